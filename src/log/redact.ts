/**
 * Masks secrets in every string that leaves the engine: runner log, host log, state, history, summary,
 * notifications and error messages. Each secret is registered with its derived forms (URL-encoded, base64,
 * the password inside a connection URL), because a value rarely leaks in the form it was configured in.
 */
export const MASK = '***';

/** below this length a value is too common to mask safely ("1", "true") and is not treated as a secret */
export const MIN_SECRET_LENGTH = 4;

export class Redactor {
  private readonly secrets = new Set<string>();
  private onAdd: ((s: string) => void) | undefined;

  /** called for every form added, e.g. core.setSecret in the action */
  setSink(sink: (s: string) => void): void {
    this.onAdd = sink;
    for (const s of this.secrets) sink(s);
  }

  add(value: string | undefined): void {
    if (!value || value.length < MIN_SECRET_LENGTH) return;
    for (const form of derivedForms(value)) {
      if (form.length < MIN_SECRET_LENGTH || this.secrets.has(form)) continue;
      this.secrets.add(form);
      this.onAdd?.(form);
    }
  }

  redact(text: string): string {
    if (!text) return text;
    // longest first so a secret containing another is masked whole
    let out = text;
    for (const s of [...this.secrets].sort((a, b) => b.length - a.length)) {
      if (out.includes(s)) out = out.split(s).join(MASK);
    }
    return redactPatterns(out);
  }

  redactDeep<T>(value: T): T {
    return JSON.parse(this.redact(JSON.stringify(value))) as T;
  }

  get size(): number {
    return this.secrets.size;
  }
}

export function derivedForms(value: string): string[] {
  const forms = new Set<string>([value]);
  forms.add(encodeURIComponent(value));
  forms.add(Buffer.from(value, 'utf8').toString('base64'));
  forms.add(Buffer.from(value, 'utf8').toString('base64').replace(/=+$/, ''));
  forms.add(JSON.stringify(value).slice(1, -1));
  const pw = passwordInUrl(value);
  if (pw) {
    forms.add(pw);
    forms.add(safeDecode(pw));
  }
  for (const line of value.split(/\r?\n/)) if (line.trim().length >= 16) forms.add(line.trim());
  return [...forms];
}

function passwordInUrl(value: string): string | undefined {
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:([^@\s]+)@/i.exec(value);
  return m?.[1];
}

/** decodeURIComponent that returns the text as it is when it is not valid percent-encoding */
export function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** secrets nobody registered but that have an unmistakable shape: credentials in URLs, bearer tokens, age keys */
function redactPatterns(text: string): string {
  return text
    .replace(/AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{8,}/gi, MASK)
    .replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s'"]*:)([^@\s'"]+)(@)/gi, `$1${MASK}$3`)
    .replace(/(authorization:\s*(?:bearer|token|basic)\s+)[^\s'"]+/gi, `$1${MASK}`)
    .replace(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g, MASK);
}
