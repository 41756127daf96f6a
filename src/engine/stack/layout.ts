import type { ResolvedConfig } from '../../config/load.js';
import type { Colour } from '../types.js';

/** Names and paths of one environment on its host. All derived from validated config: safe for argv. */
export class Layout {
  readonly root: string;
  readonly stack: string;
  /** the environment's Caddy also joins the host's front proxy network (compose.front.yml) */
  readonly front: boolean;
  constructor(cfg: Pick<ResolvedConfig, 'hostPath' | 'stack'> & { proxy?: { front?: boolean } }) {
    this.root = cfg.hostPath.replace(/\/+$/, '');
    this.stack = cfg.stack;
    this.front = cfg.proxy?.front === true;
  }
  path(...parts: string[]): string {
    return [this.root, ...parts].join('/');
  }
  get composeFile(): string {
    return this.path('compose.yml');
  }
  /** the override that puts the environment's Caddy on the front proxy's network under its domains */
  get frontOverrideFile(): string {
    return this.path('compose.front.yml');
  }
  get composeFiles(): string[] {
    return this.front ? [this.composeFile, this.frontOverrideFile] : [this.composeFile];
  }
  get imagesEnv(): string {
    return this.path('.env');
  }
  get appEnv(): string {
    return this.path('app.env');
  }
  get stateFile(): string {
    return this.path('state.json');
  }
  get historyFile(): string {
    return this.path('history.jsonl');
  }
  get lockDir(): string {
    return this.path('lock');
  }
  get logsDir(): string {
    return this.path('logs');
  }
  get caddyDir(): string {
    return this.path('caddy');
  }
  gate(c: Colour): string {
    return `${this.stack}-gate-${c}`;
  }
  app(c: Colour): string {
    return `${this.stack}-app-${c}`;
  }
  get caddy(): string {
    return `${this.stack}-caddy`;
  }
  get db(): string {
    return `${this.stack}-db`;
  }
  get keeper(): string {
    return `${this.stack}-keeper`;
  }
  service(c: Colour): string {
    return `app-${c}`;
  }
}
