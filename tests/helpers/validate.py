"""Validate JSON against a JSON Schema (draft 2020-12) with jsonschema.

usage: validate.py [--lines] [--invalid] [--def NAME] SCHEMA FILE...
  --lines    each non-empty line of each FILE is one document (NDJSON)
  --invalid  succeed only when every document is rejected
  --def NAME validate against the schema's $defs/NAME instead of the root

Prints one line per problem (file:line: message) and exits 1 on any.
"""
import json
import sys

import jsonschema


def main(argv):
    lines = "--lines" in argv
    invalid = "--invalid" in argv
    args = [a for a in argv if a not in ("--lines", "--invalid")]
    defname = None
    if "--def" in args:
        i = args.index("--def")
        defname = args[i + 1]
        del args[i : i + 2]
    if len(args) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(args[0], encoding="utf-8") as f:
        schema = json.load(f)
    if defname is not None:
        if defname not in schema.get("$defs", {}):
            print(f"{args[0]}: no $defs/{defname}", file=sys.stderr)
            return 2
        schema = {"$schema": schema["$schema"], "$defs": schema["$defs"],
                  "$ref": f"#/$defs/{defname}"}
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    bad = count = 0
    for path in args[1:]:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if lines:
            docs = [(i + 1, l) for i, l in enumerate(text.split("\n")) if l.strip()]
        else:
            docs = [(1, text)]
        for lineno, doc in docs:
            count += 1
            where = f"{path}:{lineno}"
            try:
                value = json.loads(doc)
            except ValueError as e:
                errors = [f"not JSON: {e}"]
            else:
                errors = [
                    f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
                    for e in validator.iter_errors(value)
                ]
            if invalid and not errors:
                print(f"{where}: accepted, but should be rejected")
                bad += 1
            elif not invalid and errors:
                for e in errors:
                    print(f"{where}: {e}")
                bad += 1
    if count == 0:
        print("no documents to validate")
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
