package awscfg

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jmespath/go-jmespath"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
	"golang.org/x/term"
)

// Output formats, as the AWS CLI v2 names them.
var OutputFormats = []string{"json", "text", "table", "yaml", "yaml-stream"}

// ColorModes are the values of --color.
var ColorModes = []string{"on", "off", "auto"}

// OutputOptions are the AWS CLI's global options that shape what a command prints:
// --output, --query, --color and --no-paginate.
type OutputOptions struct {
	Output     string // json, text, table, yaml, yaml-stream; "" means AWS_DEFAULT_OUTPUT, the profile's output, else json
	Query      string // JMESPath
	Color      string // on, off, auto
	NoPaginate bool
}

// AddFlags adds the options to fs with the AWS CLI's names and defaults.
func (o *OutputOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Output, "output", "", "output format: json, text, table, yaml or yaml-stream")
	fs.StringVar(&o.Query, "query", "", "a JMESPath query to filter the response")
	fs.StringVar(&o.Color, "color", "auto", "color in table output: on, off or auto")
	fs.BoolVar(&o.NoPaginate, "no-paginate", false, "make one call only, instead of following pages")
}

// Validate checks the values as the AWS CLI's argument parser does and resolves the
// output format from the environment and the profile's output setting when --output is
// not given. Errors are *Error with exit code 252 and the CLI's text.
func (o *OutputOptions) Validate(profile string) error {
	if o.Output == "" {
		o.Output = os.Getenv("AWS_DEFAULT_OUTPUT")
	}
	if o.Output == "" {
		o.Output = profileSetting(profile, "output")
	}
	if o.Output == "" {
		o.Output = "json"
	}
	if !contains(OutputFormats, o.Output) {
		return invalidChoice("--output", o.Output, OutputFormats)
	}
	if o.Color == "" {
		o.Color = "auto"
	}
	if !contains(ColorModes, o.Color) {
		return invalidChoice("--color", o.Color, ColorModes)
	}
	if o.Query != "" {
		if _, err := jmespath.Compile(o.Query); err != nil {
			return badQuery(o.Query, err)
		}
	}
	return nil
}

// badQuery reproduces the CLI's message for a query that does not parse.
func badQuery(q string, err error) error {
	msg := err.Error()
	var se jmespath.SyntaxError
	if errors.As(err, &se) {
		msg = fmt.Sprintf("%s:\n\"%s\"\n%s^", strings.TrimPrefix(strings.TrimSuffix(se.Error(), ":"), "SyntaxError: "), q, strings.Repeat(" ", se.Offset+1))
	}
	return &Error{Code: ExitUsage, Message: fmt.Sprintf("Bad value for --query %s: Invalid jmespath expression: %s", q, msg)}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// invalidChoice reproduces argparse's message for a value outside the choices (the
// usage banner the CLI prints before it is left out).
func invalidChoice(flag, value string, choices []string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "tokenbatch: error: argument %s: Invalid choice, valid choices are:\n\n", flag)
	for i := 0; i < len(choices); i += 2 {
		if i+1 < len(choices) {
			fmt.Fprintf(&b, "%-40s | %-40s\n", choices[i], choices[i+1])
		} else {
			fmt.Fprintf(&b, "%-40s\n", choices[i])
		}
	}
	return &Error{Code: ExitUsage, Message: strings.TrimRight(b.String(), "\n")}
}

// profileSetting reads one key of a profile in the shared config file, as the CLI reads
// its own settings (output) that the SDK does not know.
func profileSetting(profile, key string) string {
	if profile == "" {
		profile = os.Getenv("AWS_PROFILE")
	}
	if profile == "" {
		profile = "default"
	}
	path := os.Getenv("AWS_CONFIG_FILE")
	if path == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		path = filepath.Join(home, ".aws", "config")
	}
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	want := "profile " + profile
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			name := strings.Join(strings.Fields(line[1:len(line)-1]), " ")
			in = name == want || (profile == "default" && name == "default")
			continue
		}
		if !in {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Print writes a response as the AWS CLI v2 does for operation (the table's title):
// v is an SDK output struct (or any value); its ResultMetadata is dropped, timestamps
// are printed as the CLI prints them, the query applied. As in the CLI, an operation
// without output prints nothing in json, table and yaml, while a query on it prints
// null (json) or None (text).
func (o *OutputOptions) Print(w io.Writer, operation string, v any) error {
	data := ToCLI(v)
	if o.Query != "" {
		q, err := jmespath.Compile(o.Query)
		if err != nil {
			return badQuery(o.Query, err)
		}
		if data, err = q.Search(data); err != nil {
			return err
		}
	}
	empty := false
	if m, ok := data.(map[string]any); ok && len(m) == 0 {
		empty = true
	}
	var buf bytes.Buffer
	switch o.Output {
	case "", "json":
		if !empty {
			writeJSON(&buf, data)
		}
	case "text":
		formatText(&buf, data, "", nil)
	case "table":
		styled := o.Color == "on" || (o.Color == "auto" && isTerminal(w))
		renderTable(&buf, operation, data, terminalWidth(w), styled)
	case "yaml":
		if !empty {
			writeYAML(&buf, data)
		}
	case "yaml-stream":
		if !empty {
			writeYAML(&buf, []any{data})
		}
	default:
		return invalidChoice("--output", o.Output, OutputFormats)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func writeJSON(w *bytes.Buffer, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "    ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(w, "%v\n", v)
	}
}

func writeYAML(w *bytes.Buffer, v any) {
	switch v.(type) {
	case nil, string, bool, float64, int64, int:
		// As the CLI: scalars are printed as JSON, without YAML's document end marker.
		writeJSON(w, v)
		return
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	_ = enc.Encode(v)
	_ = enc.Close()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func terminalWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if width, _, err := term.GetSize(int(f.Fd())); err == nil && width > 0 {
			return width
		}
	}
	return 80
}

// TimestampFormat is how the AWS CLI v2 prints timestamps (its iso8601 format).
const TimestampFormat = "2006-01-02T15:04:05-07:00"

// ToCLI converts an SDK value into what botocore would have parsed: maps keyed by member
// name, lists, strings, numbers, booleans. Nil members are left out, ResultMetadata and
// unexported fields dropped, timestamps formatted as TimestampFormat in UTC, blobs
// base64-encoded.
func ToCLI(v any) any {
	return toCLI(reflect.ValueOf(v))
}

var timeType = reflect.TypeOf(time.Time{})

func toCLI(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return toCLI(v.Elem())
	}
	if v.Type() == timeType {
		t := v.Interface().(time.Time).UTC()
		if t.Nanosecond() != 0 {
			return t.Format("2006-01-02T15:04:05.000000-07:00")
		}
		return t.Format(TimestampFormat)
	}
	switch v.Kind() {
	case reflect.Struct:
		m := map[string]any{}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() || f.Name == "ResultMetadata" {
				continue
			}
			fv := v.Field(i)
			if (fv.Kind() == reflect.Pointer || fv.Kind() == reflect.Interface) && fv.IsNil() {
				continue
			}
			if (fv.Kind() == reflect.Slice || fv.Kind() == reflect.Map) && fv.IsNil() {
				continue
			}
			m[f.Name] = toCLI(fv)
		}
		return m
	case reflect.Map:
		m := map[string]any{}
		iter := v.MapRange()
		for iter.Next() {
			m[fmt.Sprint(iter.Key().Interface())] = toCLI(iter.Value())
		}
		return m
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return base64.StdEncoding.EncodeToString(v.Bytes())
		}
		l := make([]any, v.Len())
		for i := range l {
			l[i] = toCLI(v.Index(i))
		}
		return l
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(v.Uint())
	case reflect.Float32, reflect.Float64:
		return v.Float()
	}
	return fmt.Sprint(v.Interface())
}

// pyStr formats a scalar as Python's str() does, which the CLI's text and table
// formats use.
func pyStr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return x
	case float64:
		if x == float64(int64(x)) && x < 1e15 && x > -1e15 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case json.Number:
		return x.String()
	}
	return fmt.Sprint(v)
}

func isScalar(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return false
	}
	return true
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
