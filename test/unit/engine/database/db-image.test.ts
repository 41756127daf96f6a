import assert from 'node:assert/strict';
import { test } from 'node:test';

test('database image: images.postgres as it is, or extended by a Dockerfile and tagged by content', async () => {
  const { ConfigSchema } = await import('../../../../src/config/schema.js');
  const { dbImage } = await import('../../../../src/engine/database/db-image.js');
  const ctxWith = (images: Record<string, string>) =>
    ({
      cfg: {
        configDir: '/nonexistent',
        config: ConfigSchema.parse({
          app: { image: 'ghcr.io/x/y' },
          images,
          environments: { p: { host: 'h.example' } },
        }),
      },
    }) as never;
  assert.deepEqual(dbImage(ctxWith({ postgres_dockerfile: 'none' })), { ref: 'postgis/postgis:16-3.4' });
  const builtin = dbImage(ctxWith({}));
  assert.match(builtin.ref, /^togather-postgres:[0-9a-f]{16}$/);
  assert.equal(builtin.build?.base, 'postgis/postgis:16-3.4');
  assert.match(builtin.build!.dockerfile, /pgvector/);
  assert.equal(dbImage(ctxWith({})).ref, builtin.ref, 'the same inputs, the same tag: built once per host');
  assert.notEqual(dbImage(ctxWith({ postgres: 'postgis/postgis:16-3.5' })).ref, builtin.ref, 'a new base, a new tag');
  assert.throws(
    () => dbImage(ctxWith({ postgres_dockerfile: 'missing/Dockerfile' })),
    /images\.postgres_dockerfile: cannot read/,
  );
});
