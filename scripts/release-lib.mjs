// The pure parts of a release (scripts/release.mjs and .github/workflows/release.yml use them): versions
// X.Y.Z and their bumps, and the CHANGELOG.md edits (Keep a Changelog: the Unreleased section becomes the
// release's section; the link references at the bottom follow). No I/O here: test/unit/release.test.ts.

export const REPO_URL = 'https://github.com/togather/togather-deploy';

const VERSION_RE = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;
const HEADING_RE = /^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?[ \t]*$/gm;
const LINK_RE = /^\[[^\]]+\]: \S+[ \t]*$/m;

/** "1.2.3" or "v1.2.3" → [1, 2, 3]; anything else (pre-releases, leading zeros, two parts) → undefined */
export function parseVersion(text) {
  const m = VERSION_RE.exec(String(text).replace(/^v/, ''));
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

/** negative, zero or positive as a sorts before, with or after b (both valid versions) */
export function compareVersions(a, b) {
  const x = mustParse(a);
  const y = mustParse(b);
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
}

/**
 * The version to release: `wanted` is major, minor, patch (a bump of `current`) or an explicit X.Y.Z (a leading
 * v is accepted). Throws unless the result is greater than `current` — or equal to it when `current` was never
 * released (no tag yet: package.json names the release being prepared, as before the first one).
 */
export function nextVersion(current, wanted, { currentReleased = true } = {}) {
  const [major, minor, patch] = mustParse(current);
  let next;
  if (wanted === 'major') next = `${major + 1}.0.0`;
  else if (wanted === 'minor') next = `${major}.${minor + 1}.0`;
  else if (wanted === 'patch') next = `${major}.${minor}.${patch + 1}`;
  else if (parseVersion(wanted)) next = String(wanted).replace(/^v/, '');
  else throw new Error(`"${wanted}" is neither major, minor, patch nor a version X.Y.Z`);
  const order = compareVersions(next, current);
  if (order < 0 || (order === 0 && currentReleased))
    throw new Error(
      `version ${next} is not greater than the current version ${current} (package.json)` +
        (order === 0 ? `, which has its tag v${current} already` : ''),
    );
  return next;
}

/** the sections of a changelog: name (Unreleased or a version), date, and where the heading and body lie */
export function sections(text) {
  const heads = [...text.matchAll(HEADING_RE)];
  return heads.map((m, i) => {
    const bodyStart = m.index + m[0].length;
    const next = heads[i + 1]?.index ?? text.length;
    // the last section ends where the link references begin
    const link = LINK_RE.exec(text.slice(bodyStart, next));
    const end = link ? bodyStart + link.index : next;
    return { name: m[1], date: m[2], start: m.index, bodyStart, end, body: text.slice(bodyStart, end) };
  });
}

/** true when a section body holds no entry: nothing but blank lines and ### subheadings */
function isEmpty(body) {
  return body.split('\n').every((l) => l.trim() === '' || /^###\s/.test(l));
}

/** The body of the section of `version` (without its heading), trimmed. Throws if absent or empty. */
export function changelogSection(text, version) {
  const v = String(version).replace(/^v/, '');
  const s = sections(text).find((x) => x.name === v);
  if (!s) throw new Error(`CHANGELOG.md has no section "## [${v}]"`);
  if (isEmpty(s.body)) throw new Error(`the section "## [${v}]" of CHANGELOG.md is empty`);
  return s.body.trim();
}

/**
 * The changelog with the entries of Unreleased moved into a new section `## [version] - date` below an empty
 * Unreleased heading. The link references, if there is an [Unreleased] one, follow: Unreleased compares from the
 * new tag, the new version compares from the previous release (or points at its tag for a first release).
 */
export function releaseChangelog(text, version, date) {
  if (!parseVersion(version)) throw new Error(`"${version}" is not a version X.Y.Z`);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new Error(`"${date}" is not a date YYYY-MM-DD`);
  const all = sections(text);
  const unreleased = all.find((s) => s.name === 'Unreleased');
  if (!unreleased) throw new Error('CHANGELOG.md has no "## [Unreleased]" section');
  if (all.some((s) => s.name === version)) throw new Error(`CHANGELOG.md already has a section for ${version}`);
  if (isEmpty(unreleased.body))
    throw new Error('the Unreleased section of CHANGELOG.md is empty: write down what this release changes');
  const previous = all.filter((s) => parseVersion(s.name)).sort((a, b) => compareVersions(b.name, a.name))[0];
  if (previous && compareVersions(version, previous.name) <= 0)
    throw new Error(`CHANGELOG.md already has ${previous.name}, which is not older than ${version}`);

  const entries = unreleased.body.trim();
  let out =
    text.slice(0, unreleased.bodyStart) +
    `\n\n## [${version}] - ${date}\n\n${entries}\n\n` +
    text.slice(unreleased.end).replace(/^\n+/, '');
  out = out.replace(/\n*$/, '\n');

  const link = /^\[Unreleased\]: \S+[ \t]*$/im.exec(out);
  if (link) {
    const tag = `v${version}`;
    const own = previous
      ? `[${version}]: ${REPO_URL}/compare/v${previous.name}...${tag}`
      : `[${version}]: ${REPO_URL}/releases/tag/${tag}`;
    const replacement = `[Unreleased]: ${REPO_URL}/compare/${tag}...HEAD\n${own}`;
    out = out.slice(0, link.index) + replacement + out.slice(link.index + link[0].length);
  }
  return out;
}

/** the reusable workflows whose action step the release pins to its own tag */
export const REUSABLE_WORKFLOWS = ['deploy.yml', 'rollback.yml', 'snapshot.yml'].map((f) => `.github/workflows/${f}`);

/**
 * A reusable workflow with its action steps (`uses: togather/togather-deploy@…`) pinned to `tag`: a caller that
 * pins the workflow at the release's tag or commit then runs the action of that same release, not whatever the
 * moving major tag points at later. The callers' examples in comments (…/deploy.yml@v1) stay as they are.
 */
export function pinActionSteps(text, tag) {
  return text.replace(/^(\s*(?:-\s+)?uses:\s*togather\/togather-deploy)@[^\s#]+/gm, `$1@${tag}`);
}

/** the tags the action steps of a workflow name (for the release check: all of them the release's own) */
export function actionStepRefs(text) {
  return [...text.matchAll(/^\s*(?:-\s+)?uses:\s*togather\/togather-deploy@([^\s#]+)/gm)].map((m) => m[1]);
}

/** the annotated tag's message: a title line, then the changelog section */
export function tagMessage(version, section) {
  return `togather-deploy v${version}\n\n${section.trim()}\n`;
}

function mustParse(v) {
  const p = parseVersion(v);
  if (!p) throw new Error(`"${v}" is not a version X.Y.Z`);
  return p;
}
