/** POSIX single-quote quoting: the only place argv becomes shell text (ssh hands the remote side one string). */
export function quote(arg: string): string {
  if (arg === '') return "''";
  if (/^[A-Za-z0-9_/.,:=@%+-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function quoteArgv(argv: readonly string[]): string {
  return argv.map(quote).join(' ');
}
