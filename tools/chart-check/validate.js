#!/usr/bin/env node
// Validates rendered Kubernetes objects (a JSON array from chart-render
// --json) against the Kubernetes API schema of each kind:
//  1. the OpenAPI schema validators of the npm `kubernetes-models` packages
//     (types, required fields, enums, formats), and
//  2. a strict unknown-field check, like the API server's
//     `fieldValidation=Strict`: every field name must exist in the kind's
//     type, read from the same packages' TypeScript declarations.
//
// usage: NODE_PATH=DIR/node_modules node validate.js OBJECTS.json...
"use strict";

const fs = require("fs");
const path = require("path");

const modulesDir = (process.env.NODE_PATH || "").split(path.delimiter).find(
  (d) => d && fs.existsSync(path.join(d, "kubernetes-models")));
if (!modulesDir) {
  console.error("validate.js: set NODE_PATH to a node_modules with kubernetes-models");
  process.exit(2);
}

// apiVersion -> module folder holding one file per kind.
function modulePath(apiVersion, kind) {
  if (apiVersion === "monitoring.coreos.com/v1") {
    return `@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/${kind}`;
  }
  return `kubernetes-models/${apiVersion}/${kind}`;
}

// ---- A small parser for the declaration files' type expressions ----------

const declCache = new Map();  // file -> {interfaces, aliases, imports}

function tokenize(src) {
  src = src.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/[^\n]*/g, "");
  const re = /\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[A-Za-z_$][\w$]*|\d+|\S)/g;
  const tokens = [];
  let m;
  while ((m = re.exec(src)) !== null) tokens.push(m[1]);
  return tokens;
}

function parseType(t, i) {
  // Union of primaries; returns [type, next index].
  const options = [];
  if (t[i] === "|") i++;
  for (;;) {
    let [ty, j] = parsePrimary(t, i);
    while (t[j] === "[" && t[j + 1] === "]") { ty = { kind: "array", of: ty }; j += 2; }
    options.push(ty);
    i = j;
    if (t[i] !== "|") break;
    i++;
  }
  return [options.length === 1 ? options[0] : { kind: "union", options }, i];
}

function parsePrimary(t, i) {
  const tok = t[i];
  if (tok === "{") return parseMembers(t, i + 1, "}");
  if (tok === "(") {
    const [ty, j] = parseType(t, i + 1);
    return [ty, j + 1];
  }
  if (tok === "Array" && t[i + 1] === "<") {
    const [ty, j] = parseType(t, i + 2);
    return [{ kind: "array", of: ty }, j + 1];
  }
  if (/^["'\d]/.test(tok) || ["string", "number", "boolean", "any", "unknown", "null",
    "undefined", "object", "true", "false"].includes(tok)) {
    return [{ kind: "leaf" }, i + 1];
  }
  // A reference, possibly qualified or generic: Foo, Foo.Bar, Foo<...>.
  let name = tok;
  let j = i + 1;
  while (t[j] === ".") { name += "." + t[j + 1]; j += 2; }
  if (t[j] === "<") {
    let depth = 0;
    do {
      if (t[j] === "<") depth++;
      if (t[j] === ">") depth--;
      j++;
    } while (depth > 0 && j < t.length);
  }
  return [{ kind: "ref", name }, j];
}

function parseMembers(t, i, close) {
  const fields = {};
  let index = null;
  while (i < t.length && t[i] !== close) {
    if (t[i] === "[") {  // [key: string]: T;
      let j = i;
      while (t[j] !== "]") j++;
      const [ty, k] = parseType(t, j + 2);
      index = ty;
      i = k;
    } else {
      let name = t[i];
      if (/^["']/.test(name)) name = name.slice(1, -1);
      let j = i + 1;
      if (t[j] === "?") j++;
      if (t[j] !== ":") {  // a method or something else: skip to ';'
        while (t[j] !== ";" && t[j] !== close) j++;
        i = t[j] === ";" ? j + 1 : j;
        continue;
      }
      const [ty, k] = parseType(t, j + 1);
      fields[name] = ty;
      i = k;
    }
    if (t[i] === ";" || t[i] === ",") i++;
  }
  return [{ kind: "object", fields, index }, i + 1];
}

function loadDecl(file) {
  if (declCache.has(file)) return declCache.get(file);
  const decl = { file, interfaces: {}, aliases: {}, imports: {} };
  declCache.set(file, decl);
  const src = fs.readFileSync(file, "utf8");
  const t = tokenize(src);
  for (let i = 0; i < t.length; i++) {
    if (t[i] === "import" && t[i + 1] === "{") {
      let j = i + 2;
      const names = [];
      while (t[j] !== "}") {
        if (t[j + 1] === "as") { names.push([t[j], t[j + 2]]); j += 3; } else { names.push([t[j], t[j]]); j++; }
        if (t[j] === ",") j++;
      }
      const from = t[j + 2].slice(1, -1);
      for (const [orig, local] of names) decl.imports[local] = { from, name: orig };
      i = j;
    } else if (t[i] === "interface") {
      const name = t[i + 1];
      let j = i + 2;
      const bases = [];
      if (t[j] === "extends") {
        j++;
        while (t[j] !== "{") { if (t[j] !== ",") bases.push(t[j]); j++; }
      }
      const [obj, k] = parseMembers(t, j + 1, "}");
      obj.bases = bases;
      decl.interfaces[name] = obj;
      i = k - 1;
    } else if (t[i] === "type" && t[i - 1] === "export" && t[i + 2] === "=") {
      const [ty, k] = parseType(t, i + 3);
      decl.interfaces[t[i + 1]] = ty;
      i = k - 1;
    } else if (t[i] === "export" && t[i + 1] === "{") {
      let j = i + 2;
      while (t[j] !== "}") {
        if (t[j + 1] === "as") { decl.aliases[t[j + 2]] = t[j]; j += 3; } else { j++; }
        if (t[j] === ",") j++;
      }
      i = j;
    }
  }
  return decl;
}

function resolveFile(from, spec) {
  const base = spec.startsWith(".") ? path.resolve(path.dirname(from), spec)
    : path.join(modulesDir, spec);
  for (const f of [base + ".d.ts", path.join(base, "index.d.ts")]) {
    if (fs.existsSync(f)) return f;
  }
  return null;
}

// Resolves a type name as seen from `decl` to [type, its decl], or null.
function resolveRef(decl, name, depth = 0) {
  if (depth > 10) return null;
  if (decl.interfaces[name]) return [decl.interfaces[name], decl];
  if (decl.aliases[name] && decl.interfaces[decl.aliases[name]]) {
    return [decl.interfaces[decl.aliases[name]], decl];
  }
  const imp = decl.imports[name];
  if (imp) {
    const file = resolveFile(decl.file, imp.from);
    if (!file) return null;
    return resolveRef(loadDecl(file), imp.name, depth + 1);
  }
  return null;  // TypeMeta, ModelData...: not object schemas we check
}

// Field names of an interface including its bases (TypeMeta adds
// apiVersion/kind).
function objectFields(ty, decl) {
  const fields = Object.assign({}, ty.fields);
  for (const b of ty.bases || []) {
    if (b === "TypeMeta") { fields.apiVersion = { kind: "leaf" }; fields.kind = { kind: "leaf" }; continue; }
    const r = resolveRef(decl, b);
    if (r && r[0].kind === "object") Object.assign(fields, objectFields(r[0], r[1]));
  }
  return fields;
}

function checkStrict(value, ty, decl, where, errors) {
  if (value === null || value === undefined || !ty) return;
  switch (ty.kind) {
    case "ref": {
      const r = resolveRef(decl, ty.name);
      if (r) checkStrict(value, r[0], r[1], where, errors);
      return;
    }
    case "array":
      if (Array.isArray(value)) value.forEach((v, i) => checkStrict(v, ty.of, decl, `${where}[${i}]`, errors));
      return;
    case "union": {
      // Use the object-like option for objects, the array option for arrays.
      const pick = ty.options.find((o) => {
        const r = o.kind === "ref" ? resolveRef(decl, o.name) : [o, decl];
        if (!r) return false;
        return Array.isArray(value) ? r[0].kind === "array" : (typeof value === "object" && r[0].kind === "object");
      });
      if (pick) checkStrict(value, pick, decl, where, errors);
      return;
    }
    case "object": {
      if (typeof value !== "object" || Array.isArray(value)) return;
      const fields = objectFields(ty, decl);
      for (const [k, v] of Object.entries(value)) {
        if (fields[k]) checkStrict(v, fields[k], decl, `${where}.${k}`, errors);
        else if (ty.index) checkStrict(v, ty.index, decl, `${where}.${k}`, errors);
        else errors.push(`${where}.${k}: unknown field`);
      }
      return;
    }
    default:
      return;
  }
}

// ---- main -----------------------------------------------------------------

let failures = 0;
let checked = 0;
for (const file of process.argv.slice(2)) {
  const objects = JSON.parse(fs.readFileSync(file, "utf8"));
  for (const obj of objects) {
    const id = `${path.basename(file)}: ${obj.apiVersion} ${obj.kind} ${obj.metadata && obj.metadata.name}`;
    if (!obj.apiVersion || !obj.kind) {
      console.log(`FAIL ${id}: apiVersion and kind are required`);
      failures++;
      continue;
    }
    const mod = modulePath(obj.apiVersion, obj.kind);
    let Model;
    try {
      Model = require(path.join(modulesDir, mod))[obj.kind];
    } catch (e) {
      console.log(`FAIL ${id}: no schema for ${obj.apiVersion}/${obj.kind} (${e.code || e.message})`);
      failures++;
      continue;
    }
    const errors = [];
    try {
      new Model(obj).validate();
    } catch (e) {
      errors.push(e.message);
    }
    const declFile = resolveFile(path.join(modulesDir, "x"), mod);
    const decl = loadDecl(declFile);
    const local = Object.keys(decl.interfaces).find((n) => n === "I" + obj.kind);
    if (!local) {
      errors.push(`strict check: no interface I${obj.kind} in ${declFile}`);
    } else {
      checkStrict(obj, decl.interfaces[local], decl, obj.kind, errors);
    }
    checked++;
    if (errors.length) {
      failures++;
      console.log(`FAIL ${id}`);
      for (const e of errors) console.log(`  ${e}`);
    } else {
      console.log(`ok   ${id}`);
    }
  }
}
console.log(`validate: ${checked} objects checked, ${failures} failed`);
process.exit(failures ? 1 : 0);
