// Package metricsjson reads the engine's metrics in JSON, the answer to a
// read of <mount>/metrics. It lives in the tests module because the
// end-to-end suite and the load tool are its only users: both count what
// an engine answered from it.
package metricsjson

// Value is the value of family's first series whose labels include every
// one of labels, in data, the data of a read of <mount>/metrics; 0 when
// there is none (a series appears with its first count).
func Value(data map[string]any, family string, labels map[string]string) float64 {
	families, _ := data["metrics"].(map[string]any)
	f, _ := families[family].(map[string]any)
	series, _ := f["series"].([]any)
	for _, raw := range series {
		m, _ := raw.(map[string]any)
		if hasLabels(m, labels) {
			v, _ := m["value"].(float64)
			return v
		}
	}
	return 0
}

func hasLabels(series map[string]any, labels map[string]string) bool {
	for k, v := range labels {
		if series[k] != v {
			return false
		}
	}
	return true
}
