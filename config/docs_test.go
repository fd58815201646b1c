package config

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// docDefault is how docs/CONFIGURATION.md writes a default.
func docDefault(v reflect.Value) string {
	switch v.Kind() {
	case reflect.Slice, reflect.Map, reflect.String:
		if v.Len() == 0 {
			return "(empty)"
		}
	}
	if d, ok := v.Interface().(time.Duration); ok {
		s := d.String() // "720h0m0s" is written "720h"
		if strings.HasSuffix(s, "m0s") {
			s = strings.TrimSuffix(s, "0s")
		}
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
		return "`" + s + "`"
	}
	return fmt.Sprintf("`%v`", v.Interface())
}

// TestDocsMatchTheCode keeps docs/CONFIGURATION.md true: one row per key
// naming its variables and its default, one row per flag, and no row for
// a key that is gone.
func TestDocsMatchTheCode(t *testing.T) {
	b, err := os.ReadFile("../docs/CONFIGURATION.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if cells := strings.Split(line, " | "); len(cells) >= 2 && strings.HasPrefix(line, "| `") {
			rows[strings.Trim(cells[0], "| `")] = cells
		}
	}
	def := Default()
	for _, f := range fields() {
		cells, ok := rows[f.key]
		if !ok || len(cells) != 4 {
			t.Errorf("docs: no 4-column row for %s", f.key)
			continue
		}
		for _, name := range envNames(f.key) {
			if !strings.Contains(cells[1], "`"+name+"`") {
				t.Errorf("docs: row %s does not name %s", f.key, name)
			}
		}
		if want := docDefault(def.value(f)); cells[2] != want {
			t.Errorf("docs: default of %s is %s, the code says %s", f.key, cells[2], want)
		}
		delete(rows, f.key)
	}
	for _, s := range flagSpecs {
		if cells, ok := rows["--"+s.name]; !ok || !strings.Contains(cells[1], "`"+s.key+"`") {
			t.Errorf("docs: no flag row --%s for %s", s.name, s.key)
		}
		delete(rows, "--"+s.name)
	}
	for name := range rows {
		t.Errorf("docs: row %s names no key or flag of the code", name)
	}
}
