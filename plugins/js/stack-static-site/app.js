// `js-static-site`: a stack template written in JavaScript, built with componentize-js.
//
// One web service serving a static site from `image` (default `local/windlass-demo-web:1`)
// with `replicas` replicas (1 to 20) and an optional `team` label. `render` refuses anything
// else with a `plugin-error` naming the parameter. Built by scripts/build-foreign-plugins.sh
// against windlass:plugin@0.1.0, on purpose: the test set keeps a foreign 0.1.0 component.

import { log } from 'windlass:plugin/host@0.1.0';

const KNOWN = new Set(['image', 'replicas', 'team']);

function refuse(field, message) {
  // A thrown value with a `payload` becomes the `err` case of the result.
  const error = new Error(message);
  error.payload = { code: 'invalid-parameter', message, field };
  return error;
}

export const template = {
  describe() {
    return {
      name: 'js-static-site',
      version: '0.1.0',
      description: 'A static site behind one web service (JavaScript, componentize-js).',
      parameters: [
        { name: 'image', description: "The site's image.", type: 'text', default: 'local/windlass-demo-web:1', secret: false },
        { name: 'replicas', description: 'How many web replicas run, 1 to 20.', type: 'integer', default: '1', secret: false },
        { name: 'team', description: 'The owning team, set as the `team` label.', type: 'text', default: undefined, secret: false },
      ],
    };
  },

  render(params) {
    const values = new Map(params);
    for (const key of [...values.keys()].sort()) {
      if (!KNOWN.has(key)) throw refuse(key, `unknown parameter \`${key}\``);
    }
    const image = values.get('image') ?? 'local/windlass-demo-web:1';
    const text = values.get('replicas') ?? '1';
    if (!/^[0-9]+$/.test(text)) throw refuse('replicas', 'must be a whole number');
    const replicas = Number(text);
    if (replicas < 1 || replicas > 20) throw refuse('replicas', 'must be 1 to 20');
    const labels = values.has('team') ? [['team', values.get('team')]] : [];
    log('info', `rendering ${replicas} replica(s) of ${image}`);
    return {
      services: [
        {
          name: 'web',
          image,
          command: undefined,
          env: [['SITE_TITLE', 'js-static-site']],
          provides: [],
          ports: [{ name: 'http', containerPort: 8080, publish: true, hostPort: undefined, protocol: 'tcp' }],
          volumes: [],
          resources: { cpuMillis: undefined, memoryBytes: undefined, diskBytes: undefined },
          replicas,
          dependsOn: [],
          healthChecks: [],
          restart: { tag: 'always' },
          labels,
        },
      ],
      volumes: [],
    };
  },
};
