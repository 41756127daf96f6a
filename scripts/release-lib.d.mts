// Types of release-lib.mjs for the TypeScript tests.
export declare const REPO_URL: string;
export declare function parseVersion(text: string): [number, number, number] | undefined;
export declare function compareVersions(a: string, b: string): number;
export declare function nextVersion(current: string, wanted: string, options?: { currentReleased?: boolean }): string;
export interface Section {
  name: string;
  date: string | undefined;
  start: number;
  bodyStart: number;
  end: number;
  body: string;
}
export declare function sections(text: string): Section[];
export declare function changelogSection(text: string, version: string): string;
export declare function releaseChangelog(text: string, version: string, date: string): string;
export declare function tagMessage(version: string, section: string): string;
export declare const REUSABLE_WORKFLOWS: string[];
export declare function pinActionSteps(text: string, tag: string): string;
export declare function actionStepRefs(text: string): string[];
