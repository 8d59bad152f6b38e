// Builds the chat app and the admin page into dist/: index.html, admin.html, the web app manifest
// and the service worker at the top, each page's JavaScript bundle and style sheet under assets/
// with their content's hash in their names (perch serves assets/ as immutable). Same sources and
// lock file, same bytes out.
import { build } from 'esbuild';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, 'dist');

await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });

const result = await build({
    absWorkingDir: here,
    entryPoints: ['src/main.js', 'src/app.css', 'src/admin/admin.js', 'src/admin/admin.css'],
    outdir: path.join(dist, 'assets'),
    entryNames: '[name]-[hash]',
    bundle: true,
    minify: true,
    sourcemap: 'linked',
    format: 'esm',
    platform: 'browser',
    target: ['es2020'],
    metafile: true,
    legalComments: 'linked',
    logLevel: 'warning',
});

// The licence notices of the bundled packages stay beside the bundle; a style sheet has none.
for (const name of Object.keys(result.metafile.outputs)) {
    if (name.endsWith('.LEGAL.txt') && (await stat(path.join(here, name))).size === 0) {
        await rm(path.join(here, name));
    }
}

// The hashed names come from esbuild's own record of what it wrote.
const outputs = Object.entries(result.metafile.outputs);
function asset_named(entry) {
    const found = outputs.find(([, output]) => output.entryPoint === entry);
    if (!found) {
        throw new Error(`build: no output for ${entry}`);
    }
    return '/' + path.relative(dist, path.join(here, found[0])).split(path.sep).join('/');
}
const script = asset_named('src/main.js');
const style = asset_named('src/app.css');

const page = (await readFile(path.join(here, 'src/index.html'), 'utf8'))
    .replace('{{script}}', script)
    .replace('{{style}}', style);
await writeFile(path.join(dist, 'index.html'), page);
// The admin page (docs/ADMIN.md): its own module and style sheet, not kept by the service worker.
const admin_page = (await readFile(path.join(here, 'src/admin/admin.html'), 'utf8'))
    .replace('{{script}}', asset_named('src/admin/admin.js'))
    .replace('{{style}}', asset_named('src/admin/admin.css'));
await writeFile(path.join(dist, 'admin.html'), admin_page);
await writeFile(
    path.join(dist, 'manifest.webmanifest'),
    await readFile(path.join(here, 'src/manifest.webmanifest')),
);
await writeFile(path.join(dist, 'icon.svg'), await readFile(path.join(here, 'src/icon.svg')));

// The service worker stays at /sw.js (its scope is the folder it is served from), with the list
// of files it keeps and a cache name that changes with every build that changes them.
const app_files = ['/', '/manifest.webmanifest', '/icon.svg', script, style];
await build({
    absWorkingDir: here,
    entryPoints: ['src/service_worker.js'],
    outfile: path.join(dist, 'sw.js'),
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2020'],
    define: {
        PERCH_APP_FILES: JSON.stringify(app_files),
        PERCH_CACHE_NAME: JSON.stringify(
            `perch-${path.basename(script, '.js')}-${path.basename(style, '.css')}`,
        ),
    },
    logLevel: 'warning',
});
console.log(`web: built ${script} and ${style} into dist/`);
