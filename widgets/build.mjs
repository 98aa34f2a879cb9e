// Bundle the widget front ends (with @viz-js/viz and its WebAssembly) into the Python package.
// Reproducible: pinned versions (package-lock.json), no timestamps, same input -> same bytes.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.env.DJ_WIDGETS_OUT || join(here, "..", "dj_jupyter", "jupyter", "static");
mkdirSync(out, { recursive: true });
const entries = ["diagram", "browser", "array", "progress"];
await build({
  entryPoints: Object.fromEntries(entries.map((name) => [name, join(here, "src", "entries", `${name}.js`)])),
  bundle: true,
  format: "esm",
  target: "es2020",
  minify: true,
  legalComments: "eof",
  outdir: out,
  logLevel: "warning",
});
copyFileSync(join(here, "src", "style.css"), join(out, "widgets.css"));
const manifest = {};
for (const name of [...entries.map((e) => `${e}.js`), "widgets.css"]) {
  manifest[name] = createHash("sha256").update(readFileSync(join(out, name))).digest("hex");
}
writeFileSync(join(out, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
console.log(`built ${Object.keys(manifest).join(", ")} into ${out}`);
