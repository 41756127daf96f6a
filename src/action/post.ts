import * as core from '@actions/core';
import { closeSession, type SshSession } from '../host/ssh.js';

export const STATE_SSH = 'ssh-session';

/** The post step: close the SSH master and delete key material, even after a killed main step. Never fails the job. */
export async function post(): Promise<void> {
  try {
    const raw = core.getState(STATE_SSH);
    if (!raw) return;
    const session = JSON.parse(raw) as SshSession;
    await closeSession(session);
    core.info('closed the SSH connection and removed the key material');
  } catch (e) {
    core.warning(`cleanup: ${(e as Error).message}`);
  }
}
