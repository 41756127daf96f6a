// The terminal side of init's questions, for the CLI: a question with its default in brackets, answered on one
// line. Only when both ends are terminals; a pipe or CI gets no questions (init then takes flags and defaults).
import { createInterface } from 'node:readline/promises';
import type { Readable, Writable } from 'node:stream';

export type AskFn = (question: string, defaultAnswer?: string) => Promise<string>;

/** ask on this input and output; an empty answer takes the default */
export function askOn(input: Readable, output: Writable): AskFn {
  return async (question, defaultAnswer) => {
    const rl = createInterface({ input, output, terminal: false });
    try {
      const shown = defaultAnswer ? `${question} [${defaultAnswer}]: ` : `${question}: `;
      const answer = (await rl.question(shown)).trim();
      return answer === '' ? (defaultAnswer ?? '') : answer;
    } finally {
      rl.close();
    }
  };
}

/** askOn(stdin, stderr) when someone is at a terminal, else undefined (stdout stays init's report) */
export function terminalAsk(): AskFn | undefined {
  return process.stdin.isTTY && process.stderr.isTTY ? askOn(process.stdin, process.stderr) : undefined;
}
