#!/usr/bin/env node
// Validates merged chart values (chart-render --values-json) against
// helm/codiff/values.schema.json, as helm does before it renders (JSON Schema
// draft-07, ajv from the chart checker's npm packages: NODE_PATH).
//
// usage: node values_schema.js SCHEMA.json VALUES.json
// Exit 0 valid, 1 invalid (the errors printed), 2 usage.
"use strict";

const fs = require("fs");
const Ajv = require("ajv");

const [schemaFile, valuesFile] = process.argv.slice(2);
if (!schemaFile || !valuesFile) {
  console.error("usage: node values_schema.js SCHEMA.json VALUES.json");
  process.exit(2);
}
const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(JSON.parse(fs.readFileSync(schemaFile, "utf8")));
const values = JSON.parse(fs.readFileSync(valuesFile, "utf8"));
if (validate(values)) {
  console.log(`values-schema: ${valuesFile} valid`);
  process.exit(0);
}
for (const e of validate.errors) {
  console.log(`values-schema: ${e.instancePath || "/"} ${e.message}` +
    (e.params && e.params.additionalProperty ? ` (${e.params.additionalProperty})` : ""));
}
process.exit(1);
