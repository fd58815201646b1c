package media_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/crypttalk/crypttalk/media"
)

const (
	svgOpen   = `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">`
	svgClose  = `</svg>`
	gradients = `<defs><linearGradient id="g"><stop offset="0" stop-color="red"/></linearGradient></defs>`
)

// forbiddenElements must never survive, in any letter case.
var forbiddenElements = []string{"script", "foreignobject", "iframe", "image", "a", "animate",
	"set", "style", "object", "embed"}

// checkSafeSVG re-parses sanitised output and checks what SanitizeSVG
// promises: one svg root, no forbidden element, no event handler, only
// local hrefs, no script URL in attributes, no DTD, comment or processing instruction, and that a second
// pass changes nothing.
func checkSafeSVG(out []byte) error {
	d := xml.NewDecoder(bytes.NewReader(out))
	d.Strict = true
	depth, roots := 0, 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("output does not re-parse: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := checkElement(t, depth == 0); err != nil {
				return err
			}
			roots, depth = roots+btoi(depth == 0), depth+1
		case xml.EndElement:
			depth--
		case xml.Directive, xml.ProcInst, xml.Comment:
			return fmt.Errorf("output keeps %T", tok)
		}
	}
	if roots != 1 {
		return fmt.Errorf("output has %d root elements", roots)
	}
	if bytes.Contains(bytes.ToLower(out), []byte("<script")) {
		return fmt.Errorf("output has script markup: %s", out)
	}
	again, err := media.SanitizeSVG(out)
	if err != nil || !bytes.Equal(again, out) {
		return fmt.Errorf("second pass gave %q, %v; want the first output %q", again, err, out)
	}
	return nil
}

func checkElement(t xml.StartElement, root bool) error {
	for _, f := range forbiddenElements {
		if strings.EqualFold(t.Name.Local, f) {
			return fmt.Errorf("output keeps <%s>", t.Name.Local)
		}
	}
	if root && t.Name.Local != "svg" {
		return fmt.Errorf("output root is <%s>", t.Name.Local)
	}
	for _, a := range t.Attr {
		if strings.HasPrefix(strings.ToLower(a.Name.Local), "on") {
			return fmt.Errorf("output keeps handler %s", a.Name.Local)
		}
		if a.Name.Local == "href" && !strings.HasPrefix(a.Value, "#") {
			return fmt.Errorf("output keeps href %q", a.Value)
		}
		if v := strings.ToLower(strings.Join(strings.Fields(a.Value), "")); strings.Contains(v, "javascript:") {
			return fmt.Errorf("output keeps %s=%q", a.Name.Local, a.Value)
		}
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestSanitizeSVG(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		keep    []string // substrings the output must contain
		dropped []string // substrings it must not
	}{
		{"shapes and gradients kept", svgOpen + gradients + `<rect width="10" height="10" fill="url(#g)" style="stroke: blue"/><use xlink:href="#g"/>` + svgClose,
			[]string{`<rect width="10" height="10" fill="url(#g)" style="stroke: blue">`, `<use xlink:href="#g">`, `<stop offset="0" stop-color="red">`}, nil},
		{"script", svgOpen + `<script>alert(1)</script><circle r="1"/>` + svgClose, []string{`<circle r="1">`}, []string{"alert"}},
		{"upper-case script", svgOpen + `<SCRIPT>alert(1)</SCRIPT><Script>alert(2)</Script>` + svgClose, nil, []string{"alert"}},
		{"CDATA script", svgOpen + `<script><![CDATA[alert(1)]]></script>` + svgClose, nil, []string{"alert"}},
		{"CDATA markup in text", svgOpen + `<text><![CDATA[<script>x</script>]]></text>` + svgClose, []string{"&lt;script&gt;x&lt;/script&gt;"}, nil},
		{"event handlers", `<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect onclick="a()" ONMOUSEOVER="b()" x="1"/></svg>`,
			[]string{`<rect x="1">`}, []string{"alert", "a()", "b()"}},
		{"foreignObject", svgOpen + `<foreignObject><iframe src="javascript:alert(1)"/><body xmlns="http://www.w3.org/1999/xhtml"/></foreignObject>` + svgClose, nil, []string{"alert", "body"}},
		{"javascript href", svgOpen + `<a href="javascript:alert(1)"><rect/></a><use href="javascript:alert(2)"/><use href=" &#106;avascript:alert(3)"/>` + svgClose, nil, []string{"alert", "<rect", "<use"}},
		{"external href", svgOpen + `<use xlink:href="http://evil.example/x.svg#a"/><image href="https://evil.example/x.png"/><use href="//evil.example/y"/>` + svgClose, nil, []string{"evil", "<use"}},
		{"other xlink prefix", `<svg xmlns="http://www.w3.org/2000/svg" xmlns:x="http://www.w3.org/1999/xlink"><use x:href="javascript:alert(1)"/><use x:href=" #ok "/></svg>`,
			[]string{`<use xlink:href="#ok">`}, []string{"alert"}},
		{"undeclared prefix", svgOpen + `<use evil:href="#a" href="http://x"/>` + svgClose, nil, []string{"<use"}},
		{"foreign namespace elements", svgOpen + `<html:script xmlns:html="http://www.w3.org/1999/xhtml">alert(1)</html:script><svg:script xmlns:svg="http://www.w3.org/2000/svg">alert(2)</svg:script><svg:rect xmlns:svg="http://www.w3.org/2000/svg" x="2"/>` + svgClose,
			[]string{`<rect x="2">`}, []string{"alert"}},
		{"animation rewriting href", svgOpen + `<set attributeName="href" to="javascript:alert(1)"/><animate attributeName="xlink:href" values="javascript:alert(2)"/>` + svgClose, nil, []string{"alert", "attributeName"}},
		{"unsafe styles", svgOpen + `<rect style="background:url(http://evil.example/)"/><rect style="width:expression(alert(1))"/><rect style="fill:u\72l(http://evil.example)"/><rect style="@import 'x'"/><rect style="fill:url( 'https://evil.example' )"/><rect style="x:java	script:alert(1)"/>` + svgClose,
			[]string{"<rect></rect>"}, []string{"style", "evil", "alert"}},
		{"unsafe paint", svgOpen + `<rect fill="url(&#104;ttp://evil.example/#x)" stroke="url(data:image/png;base64,AA)"/>` + svgClose, nil, []string{"evil", "data:"}},
		{"pi, comments, style element", `<?xml version="1.0"?><?xml-stylesheet href="http://evil.example/x.css"?>` + svgOpen + `<!-- hi --><style>@import url(http://evil.example)</style><title>T &amp; A</title>` + svgClose,
			[]string{"<title>T &amp; A</title>"}, []string{"evil", "hi", "<?"}},
		{"duplicate attributes", `<svg xmlns="http://www.w3.org/2000/svg" xmlns:a="http://www.w3.org/1999/xlink" xmlns:b="http://www.w3.org/1999/xlink"><use a:href="#one" b:href="#two"/></svg>`,
			[]string{`<use xlink:href="#one">`}, []string{"#two"}},
		{"deep nesting inside a dropped element", svgOpen + strings.Repeat("<a>", 5000) + strings.Repeat("</a>", 5000) + svgClose, nil, []string{"<a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := media.SanitizeSVG([]byte(tc.in))
			if err != nil {
				t.Fatalf("SanitizeSVG: %v", err)
			}
			if err := checkSafeSVG(out); err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.keep {
				if !bytes.Contains(out, []byte(s)) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tc.dropped {
				if bytes.Contains(out, []byte(s)) {
					t.Errorf("output keeps %q:\n%s", s, out)
				}
			}
		})
	}
}

func TestSanitizeSVGRefuses(t *testing.T) {
	laughs := `<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><svg xmlns="http://www.w3.org/2000/svg"><text>&lol2;</text></svg>`
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"billion laughs DTD", laughs, media.ErrMalformed},
		{"plain DOCTYPE", `<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd"><svg/>`, media.ErrMalformed},
		{"undeclared entity", `<svg><text>&xxe;</text></svg>`, media.ErrMalformed},
		{"unclosed element", `<svg><rect></svg>`, media.ErrMalformed},
		{"truncated", `<svg><rect/>`, media.ErrMalformed},
		{"two roots", `<svg/><svg/>`, media.ErrMalformed},
		{"text outside root", `hello <svg/>`, media.ErrMalformed},
		{"nested too deep", "<svg>" + strings.Repeat("<g>", 200) + strings.Repeat("</g>", 200) + "</svg>", media.ErrMalformed},
		{"foreign encoding", `<?xml version="1.0" encoding="ISO-8859-1"?><svg/>`, media.ErrMalformed},
		{"html root", `<html><body><svg/></body></html>`, media.ErrUnsupported},
		{"svg in another namespace", `<svg xmlns="http://www.w3.org/1999/xhtml"/>`, media.ErrUnsupported},
		{"empty", ``, media.ErrUnsupported},
		{"comment only", `<!-- nothing -->`, media.ErrUnsupported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := media.SanitizeSVG([]byte(tc.in))
			if !errors.Is(err, tc.want) {
				t.Fatalf("SanitizeSVG = %q, %v; want %v", out, err, tc.want)
			}
		})
	}
}
