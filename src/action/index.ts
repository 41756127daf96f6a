import * as core from '@actions/core';
import { post } from './post.js';
import { run } from './main.js';

// One bundle serves main and post (action.yml points both at it); main leaves a marker in the step state.
const IS_POST = core.getState('is-post') === 'true';
if (IS_POST) {
  await post();
} else {
  core.saveState('is-post', 'true');
  await run();
}
