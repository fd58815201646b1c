package media

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
)

const (
	svgNS   = "http://www.w3.org/2000/svg"
	xlinkNS = "http://www.w3.org/1999/xlink"
	// maxSVGDepth bounds the nesting kept in the output; real icons and
	// avatars stay far below it.
	maxSVGDepth = 128
)

// svgElements are the elements kept, by exact (case-sensitive) local name:
// shapes, text, grouping and paint servers. Everything else is dropped with
// its whole subtree: script, style, foreignObject, iframe, image, a,
// animate and set (which can rewrite an href), filter, and any element in
// another namespace.
var svgElements = nameSet("svg", "g", "path", "rect", "circle", "ellipse", "line", "polyline",
	"polygon", "text", "tspan", "defs", "linearGradient", "radialGradient", "stop", "clipPath",
	"mask", "title", "desc", "use", "symbol")

// svgAttributes are the attributes kept: geometry, presentation and
// structure. Event handlers (on*) are absent; href is handled on its own.
var svgAttributes = nameSet("id", "class", "style", "transform", "viewBox", "preserveAspectRatio",
	"width", "height", "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "rx", "ry", "fx", "fy",
	"fr", "d", "points", "pathLength", "dx", "dy", "rotate", "textLength", "lengthAdjust",
	"offset", "version", "fill", "fill-opacity", "fill-rule", "stroke", "stroke-width",
	"stroke-linecap", "stroke-linejoin", "stroke-miterlimit", "stroke-dasharray",
	"stroke-dashoffset", "stroke-opacity", "opacity", "color", "display", "visibility",
	"overflow", "clip-path", "clip-rule", "mask", "stop-color", "stop-opacity",
	"gradientUnits", "gradientTransform", "spreadMethod", "clipPathUnits", "maskUnits",
	"maskContentUnits", "font-family", "font-size", "font-weight", "font-style",
	"text-anchor", "dominant-baseline", "alignment-baseline", "baseline-shift",
	"letter-spacing", "word-spacing", "text-decoration", "shape-rendering", "vector-effect",
	"paint-order")

// unsafeValueParts are refused anywhere in an attribute value (compared
// lower-cased with whitespace and control characters removed).
var unsafeValueParts = []string{"javascript:", "vbscript:", "data:", "expression(", "@import",
	"behavior:", "-moz-binding", "image-set(", "src(", "\\"}

var utf8BOM = []byte("\xEF\xBB\xBF")

// errDTD refuses a DOCTYPE or any other <!...> declaration.
var errDTD = fmt.Errorf("%w: DTD declarations are not allowed", ErrMalformed)

func nameSet(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// SanitizeSVG parses b as XML with encoding/xml and rebuilds it from an
// allowlist of elements and attributes (see svgElements, svgAttributes):
// no script, style element, foreignObject, image or animation, no event
// handler, no href that is not a local "#fragment" (a use without one is
// dropped), no url() but url(#fragment), no CSS expression, @import or
// escapes. Comments and processing instructions are dropped. A DOCTYPE or any
// other DTD declaration is refused outright, so entity expansion ("billion
// laughs") can never start. The output is well-formed XML with one svg root
// carrying the SVG and XLink namespace declarations; sanitising it again
// gives it back unchanged.
//
// It answers ErrUnsupported when the root is not an SVG svg element and
// ErrMalformed for malformed XML, a DTD, or nesting deeper than 128.
func SanitizeSVG(b []byte) ([]byte, error) {
	// encoding/xml would hand a byte order mark back as text before the root.
	d := xml.NewDecoder(bytes.NewReader(bytes.TrimPrefix(b, utf8BOM)))
	d.Strict = true // undeclared entities and unclosed tags are errors
	s := &svgSanitizer{d: d}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if err := s.token(tok); err != nil {
			return nil, err
		}
	}
	if !s.done {
		return nil, fmt.Errorf("%w: no svg root element", ErrUnsupported)
	}
	return s.out.Bytes(), nil
}

// svgSanitizer writes the kept tokens of one document.
type svgSanitizer struct {
	d     *xml.Decoder
	out   bytes.Buffer
	depth int  // open elements written
	done  bool // the root element has closed
}

func (s *svgSanitizer) token(tok xml.Token) error {
	switch t := tok.(type) {
	case xml.StartElement:
		return s.start(t)
	case xml.EndElement:
		s.out.WriteString("</" + t.Name.Local + ">")
		s.depth--
		s.done = s.depth == 0
	case xml.CharData:
		if s.depth > 0 {
			_ = xml.EscapeText(&s.out, t) // a bytes.Buffer cannot fail
		} else if len(bytes.TrimSpace(t)) > 0 {
			return fmt.Errorf("%w: text outside the root element", ErrMalformed)
		}
	case xml.Directive:
		return errDTD
	}
	return nil // comments and processing instructions are dropped
}

func (s *svgSanitizer) start(t xml.StartElement) error {
	svgSpace := t.Name.Space == svgNS || t.Name.Space == ""
	switch {
	case s.done:
		return fmt.Errorf("%w: more than one root element", ErrMalformed)
	case s.depth == 0 && (!svgSpace || t.Name.Local != "svg"):
		return fmt.Errorf("%w: the root element is not svg", ErrUnsupported)
	case s.depth >= maxSVGDepth:
		return fmt.Errorf("%w: nested deeper than %d", ErrMalformed, maxSVGDepth)
	}
	attrs, href := keptAttributes(t.Attr)
	if !svgSpace || !svgElements[t.Name.Local] || (t.Name.Local == "use" && !href) {
		return s.skip()
	}
	s.out.WriteString("<" + t.Name.Local)
	if s.depth == 0 {
		s.out.WriteString(` xmlns="` + svgNS + `" xmlns:xlink="` + xlinkNS + `"`)
	}
	for _, a := range attrs {
		s.out.WriteString(" " + a.Name.Local + `="`)
		_ = xml.EscapeText(&s.out, []byte(a.Value))
		s.out.WriteString(`"`)
	}
	s.out.WriteString(">")
	s.depth++
	return nil
}

// skip consumes the rest of a dropped element, without recursion so that
// deep nesting cannot grow the stack.
func (s *svgSanitizer) skip() error {
	for open := 1; open > 0; {
		tok, err := s.d.Token()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		switch tok.(type) {
		case xml.StartElement:
			open++
		case xml.EndElement:
			open--
		case xml.Directive:
			return errDTD
		}
	}
	return nil
}

// keptAttributes filters attributes, naming each as it is written
// (href in the XLink namespace, whatever its prefix was, as xlink:href),
// and reports whether a local href was kept. Only the first of repeated
// names is kept: encoding/xml does not refuse duplicates, browsers do.
func keptAttributes(in []xml.Attr) (out []xml.Attr, href bool) {
	for _, a := range in {
		name, value := a.Name.Local, a.Value
		switch {
		case name == "href" && (a.Name.Space == "" || a.Name.Space == xlinkNS):
			value = strings.TrimSpace(value)
			if !strings.HasPrefix(value, "#") || !safeAttrValue(value) {
				continue
			}
			if a.Name.Space == xlinkNS {
				name = "xlink:href"
			}
		case a.Name.Space != "" || !svgAttributes[name]:
			continue // xmlns declarations are rewritten on the root
		case strings.HasPrefix(strings.ToLower(name), "on") || !safeAttrValue(value):
			continue
		}
		if !slices.ContainsFunc(out, func(o xml.Attr) bool { return o.Name.Local == name }) {
			out = append(out, xml.Attr{Name: xml.Name{Local: name}, Value: value})
			href = href || strings.HasSuffix(name, "href")
		}
	}
	return out, href
}

// safeAttrValue refuses script URLs, CSS expressions, imports and escapes
// (which could spell any of those), and url() that is not url(#fragment).
func safeAttrValue(v string) bool {
	n := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return -1
		}
		return unicode.ToLower(r)
	}, v)
	for _, bad := range unsafeValueParts {
		if strings.Contains(n, bad) {
			return false
		}
	}
	for rest := n; ; {
		i := strings.Index(rest, "url(")
		if i < 0 {
			return true
		}
		rest = strings.TrimLeft(rest[i+len("url("):], `"'`)
		if !strings.HasPrefix(rest, "#") {
			return false
		}
	}
}
