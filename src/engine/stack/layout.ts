import type { ResolvedConfig } from '../../config/load.js';
import type { Colour } from '../types.js';

/** Names and paths of one environment on its host. All derived from validated config: safe for argv. */
export class Layout {
  readonly root: string;
  readonly stack: string;
  constructor(cfg: Pick<ResolvedConfig, 'hostPath' | 'stack'>) {
    this.root = cfg.hostPath.replace(/\/+$/, '');
    this.stack = cfg.stack;
  }
  path(...parts: string[]): string {
    return [this.root, ...parts].join('/');
  }
  get composeFile(): string {
    return this.path('compose.yml');
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
