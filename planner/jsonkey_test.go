package planner

import "testing"

func TestJSONMember(t *testing.T) {
	doc := `{"a": 1, "b": "x\"y\\u00e9\u00e9 \ud83d\ude00", "c": null, "d": [1, {"a": 2}], "e": {"f": "}"}, "g": true, "h": 1.50, "": "empty"}`
	for _, c := range []struct {
		key                     string
		val                     string
		present, complex, valid bool
	}{
		{"a", "1", true, false, true},
		{"b", "x\"y\\u00e9é 😀", true, false, true},
		{"c", "", false, false, true},
		{"d", "", true, true, true},
		{"e", "", true, true, true},
		{"g", "true", true, false, true},
		{"h", "1.50", true, false, true},
		{"", "empty", true, false, true},
		{"zz", "", false, false, true},
	} {
		v, present, complex, ok := jsonMember([]byte(doc), c.key)
		if v != c.val || present != c.present || complex != c.complex || ok != c.valid {
			t.Errorf("%q: got %q %v %v %v, want %q %v %v %v", c.key, v, present, complex, ok, c.val, c.present, c.complex, c.valid)
		}
	}
	for _, bad := range []string{`{"a": "x`, `{"a" 1}`, `{"a": "\u00"}`} {
		if _, _, _, ok := jsonMember([]byte(bad), "a"); ok {
			t.Errorf("%s: read", bad)
		}
	}
	for _, notObject := range []string{`[1]`, `"a"`, `3`, `{}`} {
		if _, present, _, ok := jsonMember([]byte(notObject), "a"); present || !ok {
			t.Errorf("%s: present %v ok %v", notObject, present, ok)
		}
	}
}
