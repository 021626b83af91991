package iamsim

import (
	"mime"
	"net/url"
	"strings"
)

// params are a Query-protocol request's parameters, from the URL's query string and,
// for POST, the form body. Each name appears once.
type params map[string]string

func (p params) get(name string) (string, bool) {
	v, ok := p[name]
	return v, ok
}

// MaxBodyBytes is the largest request body the simulator reads; larger ones get
// RequestEntityTooLarge (HTTP 413), as AWS's front end answers oversized requests.
const MaxBodyBytes = 1 << 20

// ParseParams parses a Query-protocol request: rawQuery (the URL's query string) and,
// when contentType is a form, body. It returns IAM-shaped errors for broken encoding,
// repeated parameters and unsupported content types. It is exported for the fuzz target
// and for tools that want to read requests the way the simulator does.
func ParseParams(rawQuery, contentType string, body []byte) (map[string]string, error) {
	p, err := parseParams(rawQuery, contentType, body)
	if err != nil {
		return nil, err
	}
	return p, nil
}

func parseParams(rawQuery, contentType string, body []byte) (params, *apiError) {
	p := make(params, 8)
	if err := parseForm(p, rawQuery); err != nil {
		return nil, err
	}
	if len(body) > 0 {
		mt := contentType
		if contentType != "" {
			var err error
			mt, _, err = mime.ParseMediaType(contentType)
			if err != nil {
				return nil, sender(400, "MalformedQueryString", "The Content-Type header could not be parsed.")
			}
		}
		if mt != "" && mt != "application/x-www-form-urlencoded" {
			return nil, sender(415, "UnsupportedMediaType", "Content-Type must be application/x-www-form-urlencoded, not '"+mt+"'.")
		}
		if err := parseForm(p, string(body)); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// parseForm adds the name=value pairs of an urlencoded string to p.
func parseForm(p params, s string) *apiError {
	for s != "" {
		var part string
		part, s, _ = strings.Cut(s, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err := unescape(k)
		if err != nil {
			return sender(400, "MalformedQueryString", "Parameter name could not be URL-decoded: "+err.Error())
		}
		val, err := unescape(v)
		if err != nil {
			return sender(400, "MalformedQueryString", "Value of parameter '"+key+"' could not be URL-decoded: "+err.Error())
		}
		if key == "" {
			return sender(400, "MalformedQueryString", "Parameter names may not be empty.")
		}
		if _, dup := p[key]; dup {
			return errValidation("1 validation error detected: Parameter '" + key + "' was given more than once; give it once")
		}
		p[key] = val
	}
	return nil
}

func unescape(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, nil
	}
	u, err := url.QueryUnescape(s)
	if err != nil {
		return "", unescapeError{}
	}
	return u, nil
}

// unescapeError does not repeat the broken text: it may be part of a code.
type unescapeError struct{}

func (unescapeError) Error() string { return "invalid %-escape" }
