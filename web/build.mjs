// Builds the web UI into OUT (default ./dist): index.html, app.js, app.css, elk-worker.js,
// favicon.svg, and the optional DSFR theme apart in dsfr/ (never in the default bundle; the
// server answers /dsfr/ only when alambic.yaml says ui: {theme: dsfr}).
//   node build.mjs [OUT [NODE_MODULES]]     (NODE_MODULES: where `npm ci` installed, default ./node_modules)
import { cpSync, mkdirSync, rmSync, statSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] || join(here, 'dist'));
const modules = resolve(process.argv[3] || join(here, 'node_modules'));
// esbuild from the same node_modules as the sources' packages (it may live in the build tree).
const esbuildModule = await import(pathToFileURL(join(modules, 'esbuild/lib/main.js')).href);
const esbuild = esbuildModule.default || esbuildModule;

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

await esbuild.build({
  entryPoints: { app: join(here, 'src/main.js'), 'app-style': join(here, 'src/app.css') },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  outdir: out,
  sourcemap: false,
  legalComments: 'linked',
  logLevel: 'warning',
  nodePaths: [modules],
});
// esbuild names the CSS entry after its key: one app.css for the page.
cpSync(join(out, 'app-style.css'), join(out, 'app.css'));
rmSync(join(out, 'app-style.css'));
for (const f of readdirSync(out)) if (f.startsWith('app-style.')) rmSync(join(out, f));

cpSync(join(here, 'src/index.html'), join(out, 'index.html'));
cpSync(join(here, 'src/favicon.svg'), join(out, 'favicon.svg'));
// ELK's worker, as a file of its own: the CSP (script-src 'self') allows no blob: worker.
cpSync(join(modules, 'elkjs/lib/elk-worker.min.js'), join(out, 'elk-worker.js'));
cpSync(join(modules, 'elkjs/LICENSE.md'), join(out, 'elk-worker.LICENSE.md'));

// The French state's design system: only for state deployments (ui: {theme: dsfr}).
const dsfr = join(modules, '@gouvfr/dsfr/dist');
const theme = join(out, 'dsfr');
mkdirSync(theme, { recursive: true });
cpSync(join(dsfr, 'dsfr.min.css'), join(theme, 'dsfr.min.css'));
cpSync(join(dsfr, 'fonts'), join(theme, 'fonts'), { recursive: true });
cpSync(join(dsfr, 'icons'), join(theme, 'icons'), { recursive: true });
writeFileSync(join(theme, 'README.txt'),
  'DSFR (@gouvfr/dsfr): for French state services only; the Marianne font is not under Alambic\'s licence.\n');

const sizes = ['index.html', 'app.js', 'app.css', 'elk-worker.js'].map((f) => `${f} ${statSync(join(out, f)).size} B`);
console.log(`web UI built in ${out}: ${sizes.join(', ')}`);
