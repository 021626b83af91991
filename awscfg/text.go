package awscfg

import (
	"io"
	"sort"
	"strings"
)

// formatText is the AWS CLI's text output (awscli/text.py): one line per object of
// tab-separated scalars sorted by key, prefixed by the upper-cased key it sits under.
func formatText(w io.Writer, item any, identifier string, scalarKeys []string) {
	switch x := item.(type) {
	case map[string]any:
		textDict(w, scalarKeys, x, identifier)
	case []any:
		textList(w, x, identifier)
	default:
		io.WriteString(w, pyStr(x)+"\n")
	}
}

func textList(w io.Writer, items []any, identifier string) {
	if len(items) == 0 {
		return
	}
	hasDict, hasList := false, false
	for _, el := range items {
		switch el.(type) {
		case map[string]any:
			hasDict = true
		case []any:
			hasList = true
		}
	}
	switch {
	case hasDict:
		keys := allScalarKeys(items)
		for _, el := range items {
			formatText(w, el, identifier, keys)
		}
	case hasList:
		var scalars, others []any
		for _, el := range items {
			if isScalar(el) {
				scalars = append(scalars, el)
			} else {
				others = append(others, el)
			}
		}
		if len(scalars) > 0 {
			textScalarList(w, scalars, identifier)
		}
		for _, el := range others {
			formatText(w, el, identifier, nil)
		}
	default:
		textScalarList(w, items, identifier)
	}
}

func textScalarList(w io.Writer, items []any, identifier string) {
	if identifier != "" {
		for _, el := range items {
			io.WriteString(w, strings.ToUpper(identifier)+"\t"+pyStr(el)+"\n")
		}
		return
	}
	parts := make([]string, len(items))
	for i, el := range items {
		parts[i] = pyStr(el)
	}
	io.WriteString(w, strings.Join(parts, "\t")+"\n")
}

func textDict(w io.Writer, scalarKeys []string, item map[string]any, identifier string) {
	var scalars []string
	type pair struct {
		key   string
		value any
	}
	var others []pair
	if scalarKeys == nil {
		for _, k := range sortedKeys(item) {
			if isScalar(item[k]) {
				scalars = append(scalars, pyStr(item[k]))
			} else {
				others = append(others, pair{k, item[k]})
			}
		}
	} else {
		known := map[string]bool{}
		for _, k := range scalarKeys {
			known[k] = true
			v, ok := item[k]
			if !ok {
				scalars = append(scalars, "")
				continue
			}
			scalars = append(scalars, pyStr(v))
		}
		for _, k := range sortedKeys(item) {
			if !known[k] {
				others = append(others, pair{k, item[k]})
			}
		}
	}
	if len(scalars) > 0 {
		if identifier != "" {
			scalars = append([]string{strings.ToUpper(identifier)}, scalars...)
		}
		io.WriteString(w, strings.Join(scalars, "\t")+"\n")
	}
	for _, p := range others {
		formatText(w, p.value, p.key, nil)
	}
}

func allScalarKeys(items []any) []string {
	seen := map[string]bool{}
	for _, el := range items {
		if m, ok := el.(map[string]any); ok {
			for k, v := range m {
				if isScalar(v) {
					seen[k] = true
				}
			}
		}
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
