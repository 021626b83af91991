package awscfg

import (
	"io"
	"math"
	"sort"
	"strings"
	"unicode"
)

// The table output is a port of the AWS CLI's awscli/table.py and TableFormatter.

const (
	ansiReset       = "\x1b[0m"
	ansiRowElement  = "\x1b[1m\x1b[34m" // colorama Style.BRIGHT + Fore.BLUE
	ansiIndentation = "\x1b[2m\x1b[33m" // colorama Style.DIM + Fore.YELLOW
)

type tableSection struct {
	title     string
	headers   []string
	rows      [][]string
	indent    int
	numCols   int
	maxWidths []int
}

func (s *tableSection) addHeader(headers []string) {
	s.updateMaxWidths(headers)
	if s.numCols == 0 {
		s.numCols = len(headers)
	}
	s.headers = headers
}

func (s *tableSection) addRow(row []any) {
	if s.numCols == 0 {
		s.numCols = len(row)
	}
	strs := make([]string, len(row))
	for i, v := range row {
		strs[i] = pyStr(v)
	}
	s.rows = append(s.rows, strs)
	s.updateMaxWidths(strs)
}

func (s *tableSection) updateMaxWidths(row []string) {
	if len(s.maxWidths) == 0 {
		for _, el := range row {
			s.maxWidths = append(s.maxWidths, textLength(el))
		}
		return
	}
	for i, el := range row {
		if i < len(s.maxWidths) {
			s.maxWidths[i] = max(s.maxWidths[i], textLength(el))
		}
	}
}

func (s *tableSection) columnWidths(padding int, maxWidth int) []int {
	unscaled := make([]int, len(s.maxWidths))
	sum := 0
	for i, w := range s.maxWidths {
		unscaled[i] = w + padding
		sum += unscaled[i]
	}
	if maxWidth < 0 || len(unscaled) == 0 {
		return unscaled
	}
	factor := float64(maxWidth) / float64(sum)
	scaled := make([]int, len(unscaled))
	total := 0
	for i, w := range unscaled {
		scaled[i] = int(math.RoundToEven(factor * float64(w)))
		total += scaled[i]
	}
	off := total - maxWidth
	for off != 0 {
		n := len(scaled)
		for j := 0; j < n; j++ {
			i := j
			if off < 0 {
				i = n - 1 - j
			}
			if off > 0 {
				scaled[i]--
				off--
			} else {
				scaled[i]++
				off++
			}
			if off == 0 {
				break
			}
		}
	}
	return scaled
}

func (s *tableSection) totalWidth(padding int, withBorder bool, outerPadding int) int {
	total := 0
	for _, w := range s.columnWidths(0, -1) {
		total += w + padding
	}
	if withBorder {
		total += 2
	}
	total += 2 * outerPadding
	return max(textLength(s.title)+2+2*outerPadding, total)
}

// textLength counts East Asian wide, full-width and ambiguous characters twice, as the
// CLI does.
func textLength(s string) int {
	n := 0
	for _, r := range s {
		if wide(r) {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// wide approximates Unicode's East Asian Width W and F classes (without pulling in
// golang.org/x/text): CJK ideographs, kana, Hangul and full-width forms.
func wide(r rune) bool {
	switch {
	case r < 0x1100:
		return false
	case unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul):
		return true
	case r >= 0xFF00 && r <= 0xFF60, r >= 0xFFE0 && r <= 0xFFE6, r >= 0x3000 && r <= 0x303F:
		return true
	case r >= 0x1F300 && r <= 0x1F64F, r >= 0x1F900 && r <= 0x1F9FF:
		return true
	}
	return false
}

type multiTable struct {
	sections []*tableSection
	current  *tableSection
	width    int
	styled   bool
}

func (t *multiTable) newSection(title string, indent int) {
	t.current = &tableSection{title: title, indent: indent}
	t.sections = append(t.sections, t.current)
}

func (t *multiTable) ensure() {
	if t.current == nil {
		t.newSection("", 0)
	}
}

func (t *multiTable) addRowHeader(h []string) { t.ensure(); t.current.addHeader(h) }
func (t *multiTable) addRow(r []any)          { t.ensure(); t.current.addRow(r) }

func (t *multiTable) maxWidth() int {
	m := 0
	for _, s := range t.sections {
		m = max(m, s.totalWidth(4, true, s.indent))
	}
	return m
}

func (t *multiTable) render(w io.Writer) {
	if t.styled {
		w = autoReset{w}
	}
	mw := t.maxWidth()
	if mw > t.width {
		// Too wide for the terminal: one-row sections become key/value pairs.
		for i, s := range t.sections {
			if len(s.rows) == 1 && len(s.headers) > 0 {
				ns := &tableSection{title: s.title, indent: s.indent}
				for j, h := range s.headers {
					if j < len(s.rows[0]) {
						ns.addRow([]any{h, s.rows[0][j]})
					}
				}
				t.sections[i] = ns
			}
		}
		mw = t.maxWidth()
	}
	io.WriteString(w, strings.Repeat("-", mw)+"\n")
	for _, s := range t.sections {
		t.renderSection(w, s, mw)
	}
}

func (t *multiTable) style(text, code string) string {
	if !t.styled {
		return text
	}
	return code + text + ansiReset
}

// indented writes lines framed by one '|' per indentation level on each side.
type indented struct {
	w     io.Writer
	level int
	char  string
}

// line writes in the four pieces the CLI's IndentedStream writes, so that autoReset
// sees the same writes.
func (i indented) line(s string) {
	bars := strings.Repeat(i.char, i.level)
	for _, piece := range []string{bars, s, bars, "\n"} {
		io.WriteString(i.w, piece)
	}
}

// autoReset reproduces colorama's autoreset, which the CLI turns on for colored tables:
// every write to stdout, even an empty one, is followed by a reset sequence.
type autoReset struct{ w io.Writer }

func (a autoReset) Write(p []byte) (int, error) {
	if _, err := a.w.Write(append(p[:len(p):len(p)], ansiReset...)); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (t *multiTable) renderSection(w io.Writer, s *tableSection, maxWidth int) {
	out := indented{w: w, level: s.indent, char: t.style("|", ansiIndentation)}
	maxWidth -= s.indent * 2
	if s.title != "" {
		out.line(centerText(s.title, maxWidth, "|", "|", textLength(s.title)))
		if len(s.headers) == 0 && len(s.rows) == 0 {
			out.line("+" + strings.Repeat("-", maxWidth-2) + "+")
		}
	}
	if len(s.headers) > 0 {
		widths := s.columnWidths(4, maxWidth)
		var cur strings.Builder
		for i, h := range s.headers {
			if i >= len(widths) {
				break
			}
			left := ""
			if i == 0 {
				left = "|"
			}
			cur.WriteString(centerText(h, widths[i], left, "|", textLength(h)))
		}
		out.line(lineBreak(widths))
		out.line(cur.String())
	}
	if len(s.rows) > 0 {
		widths := s.columnWidths(4, maxWidth)
		if len(widths) == 0 {
			return
		}
		out.line(lineBreak(widths))
		for _, row := range s.rows {
			var cur strings.Builder
			for i, el := range row {
				if i >= len(widths) {
					break
				}
				left := ""
				if i == 0 {
					left = "|"
				}
				cur.WriteString(alignLeft(t.style(el, ansiRowElement), widths[i], left, "|", textLength(el)))
			}
			out.line(cur.String())
		}
		out.line(lineBreak(widths))
	}
}

func lineBreak(widths []int) string {
	var b strings.Builder
	for i, w := range widths {
		if i == 0 {
			b.WriteString("+" + strings.Repeat("-", max(w-2, 0)) + "+")
		} else {
			b.WriteString(strings.Repeat("-", max(w-1, 0)) + "+")
		}
	}
	return b.String()
}

// floorDiv is Python's // for the widths involved, which may go negative.
func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func centerText(text string, length int, left, right string, textLen int) string {
	start := floorDiv(length, 2) - floorDiv(textLen, 2) - 1
	soFar := textLength(left) + start + textLen
	rightSpaces := length - textLength(right) - soFar
	return left + strings.Repeat(" ", max(start, 0)) + text + strings.Repeat(" ", max(rightSpaces, 0)) + right
}

func alignLeft(text string, length int, left, right string, textLen int) string {
	padding := 2
	if length-(textLen+2+textLength(left)+textLength(right)) < 0 {
		padding = 0
	}
	soFar := len(left) + padding + textLen
	return left + strings.Repeat(" ", padding) + text + strings.Repeat(" ", max(length-soFar-len(right), 0)) + right
}

// renderTable is the CLI's TableFormatter.
func renderTable(w io.Writer, title string, data any, termWidth int, styled bool) {
	t := &multiTable{width: termWidth, styled: styled}
	if buildTable(t, title, data, 0, true) {
		t.render(w)
	}
}

func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case map[string]any:
		return len(x) > 0
	case []any:
		return len(x) > 0
	case string:
		return x != ""
	case bool:
		return x
	case float64:
		return x != 0
	}
	return true
}

func buildTable(t *multiTable, title string, current any, indent int, hasTitle bool) bool {
	if !truthy(current) {
		return false
	}
	if hasTitle {
		t.newSection(title, indent)
	}
	switch x := current.(type) {
	case []any:
		if _, ok := x[0].(map[string]any); ok {
			tableFromList(t, x, indent, title)
		} else {
			for _, item := range x {
				if isScalar(item) {
					t.addRow([]any{item})
				} else if l, ok := item.([]any); ok && allScalars(l) {
					t.addRow(l)
				} else {
					buildTable(t, "", item, 0, false)
				}
			}
		}
	case map[string]any:
		tableFromDict(t, x, indent)
	}
	return true
}

func allScalars(l []any) bool {
	for _, v := range l {
		if !isScalar(v) {
			return false
		}
	}
	return true
}

func groupScalarKeys(m map[string]any) (headers, more []string) {
	for _, k := range sortedKeys(m) {
		if isScalar(m[k]) {
			headers = append(headers, k)
		} else {
			more = append(more, k)
		}
	}
	return headers, more
}

func tableFromDict(t *multiTable, m map[string]any, indent int) {
	headers, more := groupScalarKeys(m)
	if len(headers) == 1 {
		t.addRow([]any{headers[0], m[headers[0]]})
	} else if len(headers) > 0 {
		t.addRowHeader(headers)
		row := make([]any, len(headers))
		for i, h := range headers {
			row[i] = m[h]
		}
		t.addRow(row)
	}
	for _, k := range more {
		buildTable(t, k, m[k], indent+1, true)
	}
}

func tableFromList(t *multiTable, list []any, indent int, title string) {
	hs, ms := map[string]bool{}, map[string]bool{}
	for _, el := range list {
		if m, ok := el.(map[string]any); ok {
			h, mo := groupScalarKeys(m)
			for _, k := range h {
				hs[k] = true
			}
			for _, k := range mo {
				ms[k] = true
			}
		}
	}
	headers, more := setKeys(hs), setKeys(ms)
	t.addRowHeader(headers)
	for i, el := range list {
		m, _ := el.(map[string]any)
		if i > 0 && len(more) > 0 {
			t.newSection(title, indent)
			t.addRowHeader(headers)
		}
		row := make([]any, len(headers))
		for j, h := range headers {
			if v, ok := m[h]; ok {
				row[j] = v
			} else {
				row[j] = ""
			}
		}
		t.addRow(row)
		for _, k := range more {
			if v, ok := m[k]; ok {
				buildTable(t, k, v, indent+1, true)
			}
		}
	}
}

func setKeys(s map[string]bool) []string {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
