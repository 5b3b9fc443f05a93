package workflow

import (
	"encoding/json"
	"fmt"
	"strings"
)

// The interpreter's data are JSON values as encoding/json decodes them into any: maps, slices,
// strings, float64 numbers, booleans and nil. Paths are "$" or "$.a.b"; "$$." paths read the context
// object (only $$.Task.Token is used).

func splitPath(path string) ([]string, error) {
	if path == "$" {
		return nil, nil
	}
	if !strings.HasPrefix(path, "$.") || strings.ContainsAny(path, "[]*") {
		return nil, fmt.Errorf("path %q: only $ and $.a.b paths are supported", path)
	}
	return strings.Split(path[2:], "."), nil
}

// getPath reads the value at path.
func getPath(doc any, path string) (any, error) {
	keys, err := splitPath(path)
	if err != nil {
		return nil, err
	}
	v := doc
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("path %s: %q is not an object", path, k)
		}
		if v, ok = m[k]; !ok {
			return nil, fmt.Errorf("path %s: no field %q", path, k)
		}
	}
	return v, nil
}

// setPath returns doc with val at path (the input is not changed; objects on the way are copied).
func setPath(doc any, path string, val any) (any, error) {
	keys, err := splitPath(path)
	if err != nil {
		return nil, err
	}
	return setKeys(doc, keys, val, path)
}

func setKeys(doc any, keys []string, val any, path string) (any, error) {
	if len(keys) == 0 {
		return val, nil
	}
	m, ok := doc.(map[string]any)
	if !ok && doc != nil {
		return nil, fmt.Errorf("result path %s: the input is not an object", path)
	}
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	next, err := setKeys(out[keys[0]], keys[1:], val, path)
	if err != nil {
		return nil, err
	}
	out[keys[0]] = next
	return out, nil
}

// build makes a payload or parameters object from a template: a key ending in ".$" takes the value
// at its path (in input, or in the context object for "$$." paths); others are copied, nested
// objects built in turn.
func build(tmpl map[string]any, input any, context map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(tmpl))
	for k, v := range tmpl {
		if name, ok := strings.CutSuffix(k, ".$"); ok {
			path, isString := v.(string)
			if !isString {
				return nil, fmt.Errorf("%s: a path must be a string", k)
			}
			var got any
			var err error
			if rest, ctx := strings.CutPrefix(path, "$$"); ctx {
				got, err = getPath(any(context), "$"+rest)
			} else {
				got, err = getPath(input, path)
			}
			if err != nil {
				return nil, err
			}
			out[name] = got
			continue
		}
		if sub, ok := v.(map[string]any); ok {
			b, err := build(sub, input, context)
			if err != nil {
				return nil, err
			}
			out[k] = b
			continue
		}
		out[k] = v
	}
	return out, nil
}

// jsonValue decodes raw into the interpreter's data model.
func jsonValue(raw []byte) (any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	return v, nil
}
