# Drop the named packages (and their "# via" lines) from a pip-compile lock: `awk -v drop="a b" -f ...`.
# Used by `make lock` for optional extras nothing of ours needs whose import cost every process pays:
# rfc3987-syntax (jsonschema's format-nongpl extra, pulled by jupyter-events) builds a Lark grammar on
# import, 3.7 s of CPU in every process importing jsonschema (nbformat, papermill: each `userops`
# command, each test worker, the Lab server); jsonschema only loses its "iri" format check without it.
BEGIN {
  n = split(drop, names, " ")
  for (i = 1; i <= n; i++) dropped[names[i]] = 1
}
/^[A-Za-z0-9]/ {
  name = $0
  sub(/==.*/, "", name)
  skip = (name in dropped)
}
!skip { print }
