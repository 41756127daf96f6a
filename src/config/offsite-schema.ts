import { z } from 'zod';
import { checkRecipient } from '../crypto/age.js';

/**
 * database.snapshots.offsite and database.snapshots.max_age: copies of the snapshots off the host, encrypted by
 * the deployer with age and uploaded by the deployer's rclone (docs/snapshots.md), and the staleness alert.
 * Spread into SnapshotsSchema; both absent = the feature is off.
 */

/** "<rclone remote>:<path>": a configured remote's name, a colon, a relative path without ".." */
export const RCLONE_REMOTE_RE = /^[A-Za-z0-9_-]+:(?:[A-Za-z0-9_][A-Za-z0-9_.-]*(?:\/[A-Za-z0-9_][A-Za-z0-9_.-]*)*)?$/;

const remote = z
  .string()
  // the ".." check first: its message is the precise one when both fail
  .refine((r) => !r.split(/[:/]/).includes('..'), 'remove "..": the path may not climb out of its directory')
  .regex(
    RCLONE_REMOTE_RE,
    'write <remote>:<path>, e.g. backups:togather-snapshots/production — the name of an rclone remote ' +
      '(letters, digits, "_", "-"), a colon, and a relative path of letters, digits, "_", "-", "." and "/"',
  );

const recipient = z.string().superRefine((s, ctx) => {
  try {
    checkRecipient(s);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
  }
});

export const OffsiteSchema = z
  .object({
    remote: remote.describe(
      'where the copies go, as rclone names it: <remote>:<path>; the remote is configured on the deployer ' +
        '(RCLONE_CONFIG_<NAME>_* variables or the rclone.conf in TOGATHER_RCLONE_CONFIG), never on the host',
    ),
    recipients: z
      .array(recipient)
      .min(1, 'name at least one age recipient (age1…): the copies are encrypted to it')
      .describe('age public keys (age1…) every copy is encrypted to; the matching identity is needed only to restore'),
    retention_days: z
      .number()
      .int()
      .min(1)
      .max(3650)
      .optional()
      .describe('a copy may be removed this many days after its snapshot was taken; default: snapshots.retention_days'),
    keep_min: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(3)
      .describe('retention never leaves fewer copies than this, whatever their age'),
  })
  .strict();

export type OffsiteConfig = z.output<typeof OffsiteSchema>;

/**
 * The keys SnapshotsSchema spreads in. It hands over its own optional duration type, so that max_age is
 * written, checked and documented like every other duration (and this file needs nothing from schema.ts).
 */
export const offsiteSnapshotKeys = <D extends z.ZodType>(optionalDuration: D) => ({
  offsite: OffsiteSchema.optional().describe(
    'encrypted copies off the host, made by the deployer with rclone (snapshot create and snapshot copy)',
  ),
  max_age: optionalDuration.describe(
    'the newest snapshot (on the host or off it) older than this is an alert: snapshot check fails and notifies (e.g. 26h)',
  ),
});
