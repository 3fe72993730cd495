// chart-render renders a Helm chart the way `helm template` does, without
// helm (which Debian does not package): Go's text/template with the sprig
// functions plus the helm built-ins the codiff chart uses (include, tpl,
// required, toYaml, fromYaml, toJson, .Values, .Release, .Chart,
// .Template, .Capabilities, .Files.Get).
//
// Built from Debian packages only (golang-go, golang-github-masterminds-
// sprig-dev) in GOPATH mode:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o chart-render .
//
// Usage:
//
//	chart-render --chart DIR [-f VALUES.yaml]... [--set a.b=c]...
//	             [--release NAME] [--namespace NS]
//	             [--out FILE] [--json FILE] [--notes FILE] [--values-json FILE]
//
// --out gets the manifests as one YAML stream with `# Source:` comments (like
// helm template); --json gets a JSON array of the parsed objects (every
// document must parse as YAML); --notes gets the rendered NOTES.txt;
// --values-json gets the merged values (for the values.schema.json check).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/template"

	sprig "github.com/Masterminds/sprig"
	yaml2 "gopkg.in/yaml.v2"
	yaml3 "gopkg.in/yaml.v3"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// helmNumbers converts every number to float64, as helm does: it reads
// values through sigs.k8s.io/yaml, i.e. via JSON. Templates that print a
// large number without `int` therefore show it in exponent form here too.
func helmNumbers(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		for k, x := range t {
			t[k] = helmNumbers(x)
		}
		return t
	case []interface{}:
		for i, x := range t {
			t[i] = helmNumbers(x)
		}
		return t
	case int:
		return float64(t)
	case int64:
		return float64(t)
	case uint64:
		return float64(t)
	}
	return v
}

func readYAMLMap(path string) (map[string]interface{}, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]interface{}{}
	if err := yaml3.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if out == nil {
		out = map[string]interface{}{}
	}
	return helmNumbers(out).(map[string]interface{}), nil
}

// mergeValues merges src over dst like helm's -f: maps merge key by key,
// everything else is replaced; a null in src deletes the key.
func mergeValues(dst, src map[string]interface{}) map[string]interface{} {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		if sm, ok := v.(map[string]interface{}); ok {
			if dm, ok := dst[k].(map[string]interface{}); ok {
				dst[k] = mergeValues(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

// setValue applies one --set a.b.c=value (scalars only: bool, number, string).
func setValue(values map[string]interface{}, expr string) error {
	eq := strings.IndexByte(expr, '=')
	if eq < 1 {
		return fmt.Errorf("--set %q: want key=value", expr)
	}
	keys := strings.Split(expr[:eq], ".")
	raw := expr[eq+1:]
	var val interface{} = raw
	// Only the words true/false are booleans, as in helm's --set; Go's
	// ParseBool would also take "0", "1", "t" and "F".
	if raw == "true" || raw == "false" {
		val = raw == "true"
	} else if f, err := strconv.ParseFloat(raw, 64); err == nil {
		val = f
	} else if raw == "null" {
		val = nil
	}
	m := values
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]interface{})
		if !ok {
			next = map[string]interface{}{}
			m[k] = next
		}
		m = next
	}
	if val == nil {
		delete(m, keys[len(keys)-1])
	} else {
		m[keys[len(keys)-1]] = val
	}
	return nil
}

// toYAML is helm's toYaml: sigs.k8s.io/yaml goes through JSON, so float64
// values that hold integers print as integers, and keys come out sorted.
func toYAML(v interface{}) string {
	j, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	var obj interface{}
	if err := yaml2.Unmarshal(j, &obj); err != nil {
		return ""
	}
	data, err := yaml2.Marshal(obj)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}

type renderer struct {
	tmpl     *template.Template
	includes map[string]int
}

func (r *renderer) funcs() template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	f["toYaml"] = toYAML
	f["fromYaml"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := yaml3.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["toJson"] = func(v interface{}) string {
		data, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(data)
	}
	f["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return v, errors.New(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return v, errors.New(msg)
		}
		return v, nil
	}
	f["fail"] = func(msg string) (string, error) { return "", errors.New(msg) }
	f["include"] = func(name string, data interface{}) (string, error) {
		if r.includes[name] > 100 {
			return "", fmt.Errorf("include %q: recursion too deep", name)
		}
		r.includes[name]++
		defer func() { r.includes[name]-- }()
		var buf bytes.Buffer
		if err := r.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	f["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := r.tmpl.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	f["lookup"] = func(...interface{}) map[string]interface{} { return map[string]interface{}{} }
	return f
}

type capabilities struct {
	KubeVersion map[string]string
	APIVersions apiVersions
}

// chartFiles is helm's .Files: Get reads a file inside the chart folder
// (helm cannot read outside it either); a missing file reads as "".
type chartFiles struct{ dir string }

func (f chartFiles) Get(name string) string {
	clean := filepath.Clean(name)
	if filepath.IsAbs(clean) || strings.HasPrefix(clean, "..") {
		return ""
	}
	data, err := os.ReadFile(filepath.Join(f.dir, clean))
	if err != nil {
		return ""
	}
	return string(data)
}

type apiVersions []string

func (a apiVersions) Has(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

func main() {
	chartDir := flag.String("chart", "", "chart folder (with Chart.yaml)")
	release := flag.String("release", "codiff", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	outPath := flag.String("out", "", "write the YAML stream here (default stdout)")
	jsonPath := flag.String("json", "", "write the parsed objects here as a JSON array")
	notesPath := flag.String("notes", "", "write the rendered NOTES.txt here")
	valuesJSON := flag.String("values-json", "", "write the merged values here as JSON")
	var valueFiles, sets multiFlag
	flag.Var(&valueFiles, "f", "values file merged over the chart's values.yaml (repeatable)")
	flag.Var(&sets, "set", "key.path=value (repeatable)")
	flag.Parse()
	if *chartDir == "" {
		fmt.Fprintln(os.Stderr, "chart-render: --chart is required")
		os.Exit(2)
	}
	if err := run(*chartDir, *release, *namespace, valueFiles, sets, *outPath, *jsonPath, *notesPath, *valuesJSON); err != nil {
		fmt.Fprintln(os.Stderr, "chart-render:", err)
		os.Exit(1)
	}
}

func run(chartDir, release, namespace string, valueFiles, sets []string, outPath, jsonPath, notesPath, valuesJSON string) error {
	chartMeta, err := readYAMLMap(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return err
	}
	chartName, _ := chartMeta["name"].(string)
	if chartName == "" {
		return errors.New("Chart.yaml has no name")
	}
	// helm exposes Chart.yaml's fields capitalised (.Chart.Name, .Chart.AppVersion).
	chart := map[string]interface{}{}
	for k, v := range chartMeta {
		chart[strings.ToUpper(k[:1])+k[1:]] = v
	}
	values, err := readYAMLMap(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return err
	}
	for _, f := range valueFiles {
		extra, err := readYAMLMap(f)
		if err != nil {
			return err
		}
		values = mergeValues(values, extra)
	}
	for _, s := range sets {
		if err := setValue(values, s); err != nil {
			return err
		}
	}

	if valuesJSON != "" {
		data, err := json.MarshalIndent(values, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(valuesJSON, data, 0o644); err != nil {
			return err
		}
	}

	r := &renderer{includes: map[string]int{}}
	r.tmpl = template.New("root").Funcs(r.funcs()).Option("missingkey=zero")
	tdir := filepath.Join(chartDir, "templates")
	entries, err := os.ReadDir(tdir)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		name := chartName + "/templates/" + e.Name()
		data, err := os.ReadFile(filepath.Join(tdir, e.Name()))
		if err != nil {
			return err
		}
		if _, err := r.tmpl.New(name).Parse(string(data)); err != nil {
			return err
		}
		names = append(names, name)
	}
	sort.Strings(names)

	top := func(name string) map[string]interface{} {
		return map[string]interface{}{
			"Values": values,
			"Chart":  chart,
			"Files":  chartFiles{dir: chartDir},
			"Release": map[string]interface{}{
				"Name": release, "Namespace": namespace, "Service": "Helm",
				"IsInstall": true, "IsUpgrade": false, "Revision": 1,
			},
			"Template": map[string]interface{}{
				"Name": name, "BasePath": chartName + "/templates",
			},
			"Capabilities": capabilities{
				KubeVersion: map[string]string{"Version": "v1.30.0", "Major": "1", "Minor": "30"},
				APIVersions: apiVersions{"v1", "apps/v1", "policy/v1", "autoscaling/v2"},
			},
		}
	}

	var stream bytes.Buffer
	var objects []interface{}
	for _, name := range names {
		base := filepath.Base(name)
		if strings.HasPrefix(base, "_") {
			continue
		}
		var buf bytes.Buffer
		if err := r.tmpl.ExecuteTemplate(&buf, name, top(name)); err != nil {
			return err
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if base == "NOTES.txt" {
			if notesPath != "" {
				if err := os.WriteFile(notesPath, []byte(text), 0o644); err != nil {
					return err
				}
			}
			continue
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		// One template may hold several documents; split and check each.
		for _, doc := range splitDocuments(text) {
			var obj map[string]interface{}
			if err := yaml3.Unmarshal([]byte(doc), &obj); err != nil {
				return fmt.Errorf("%s renders invalid YAML: %w\n%s", name, err, doc)
			}
			if obj == nil {
				continue
			}
			objects = append(objects, obj)
			fmt.Fprintf(&stream, "---\n# Source: %s\n%s\n", name, strings.TrimRight(doc, "\n"))
		}
	}

	if outPath == "" {
		os.Stdout.Write(stream.Bytes())
	} else if err := os.WriteFile(outPath, stream.Bytes(), 0o644); err != nil {
		return err
	}
	if jsonPath != "" {
		data, err := json.MarshalIndent(objects, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(jsonPath, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// splitDocuments splits a rendered template on `---` lines and drops
// leading comments/blank lines (kept out of the stream's documents).
func splitDocuments(text string) []string {
	var docs []string
	var cur []string
	flush := func() {
		doc := strings.Join(cur, "\n")
		if strings.TrimSpace(stripComments(doc)) != "" {
			docs = append(docs, strings.Trim(doc, "\n"))
		}
		cur = nil
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimRight(line, " ") == "---" {
			flush()
			continue
		}
		cur = append(cur, line)
	}
	flush()
	return docs
}

func stripComments(doc string) string {
	var out []string
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}
