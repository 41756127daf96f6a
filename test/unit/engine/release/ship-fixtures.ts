/** For the layer-shipping tests: a minimal tar writer, and this machine's docker holding a two-layer image. */
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { HOST_LAYER_CHAINS } from '../../../../src/engine/release/commands.js';
import type { Local } from '../../../../src/host/host.js';

export const hex = (c: string) => c.repeat(64);
export const id = (c: string) => `sha256:${hex(c)}`;

/** ustar headers with a valid checksum */
export function header(name: string, size: number, type = '0'): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  h.write('00000000000\0', 136);
  h.write(type, 156);
  h.write('ustar\x0000', 257, 'latin1');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

export function entry(name: string, data: Buffer | string, type = '0'): Buffer {
  const d = Buffer.from(data);
  const pad = Buffer.alloc((512 - (d.length % 512)) % 512);
  return Buffer.concat([header(name, d.length, type), d, pad]);
}

export function pax(path: string): Buffer {
  const rec = (len: number) => `${len} path=${path}\n`;
  let len = rec(0).length;
  while (rec(len).length !== len) len = rec(len).length;
  return entry('PaxHeaders/x', rec(len), 'x');
}

export const END = Buffer.alloc(1024);
export const tar = (...entries: Buffer[]) => Buffer.concat([...entries, END]);

/** the release image's layers, bottom first, and its OCI archive as docker save writes it */
export const layers = [id('a'), id('b')];
export const archive = tar(
  entry(`blobs/sha256/${hex('a')}`, 'A'.repeat(4000)),
  entry(`blobs/sha256/${hex('b')}`, 'B'),
  entry(`blobs/sha256/${hex('c')}`, 'config'),
  entry('manifest.json', '[]'),
);

/** this machine's docker: it holds the image (every inspect answers its layers) and saves `archive` in two chunks */
export function shipLocal(): Local & { ran: string[] } {
  const ran: string[] = [];
  return {
    ran,
    run: async (c) => {
      ran.push(c.argv.join(' '));
      return { code: 0, stdout: `${JSON.stringify(layers)}\n`, stderr: '', durationMs: 1 };
    },
    stream: (c) => {
      ran.push(c.argv.join(' '));
      return {
        stdout: Readable.from([archive.subarray(0, 3000), archive.subarray(3000)]),
        done: Promise.resolve({ code: 0, stdout: '', stderr: '', durationMs: 1 }),
      };
    },
  };
}

/** what docker load received, from the scripted host's record of its stdin */
export const loaded = (b64: string) => gunzipSync(Buffer.from(b64, 'base64'));
/** the host's listing of its layer chains */
export const listing = new RegExp(`^sh -c ${HOST_LAYER_CHAINS.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} `);
