package rollout

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

var czTime = time.Date(2025, 1, 3, 12, 0, 0, 0, time.UTC)

// testMeter is a meter provider whose measurements the test can collect.
type testMeter struct {
	reader   *sdkmetric.ManualReader
	provider *sdkmetric.MeterProvider
}

func newTestMeter(t testing.TB) *testMeter {
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	return &testMeter{reader: r, provider: mp}
}

// collect returns, per metric name, the data points matching attrs: the
// sum of counter values, or the count of histogram observations, and the
// sum of histogram values.
func (m *testMeter) collect(t testing.TB, name string, attrs ...attribute.KeyValue) (count int64, sum float64) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := m.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	match := func(set attribute.Set) bool {
		for _, kv := range attrs {
			v, ok := set.Value(kv.Key)
			if !ok || v != kv.Value {
				return false
			}
		}
		return true
	}
	for _, sm := range rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			if md.Name != name {
				continue
			}
			switch d := md.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					if match(dp.Attributes) {
						count += dp.Value
						sum += float64(dp.Value)
					}
				}
			case metricdata.Histogram[int64]:
				for _, dp := range d.DataPoints {
					if match(dp.Attributes) {
						count += int64(dp.Count)
						sum += float64(dp.Sum)
					}
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					if match(dp.Attributes) {
						count += int64(dp.Count)
						sum += dp.Sum
					}
				}
			default:
				t.Fatalf("metric %s has unexpected data %T", name, md.Data)
			}
		}
	}
	return count, sum
}

func TestPersistenceMetrics(t *testing.T) {
	tm := newTestMeter(t)
	pm, err := NewPersistenceMetrics(PersistenceMetricsConfig{MeterProvider: tm.provider, PerThread: true})
	if err != nil {
		t.Fatal(err)
	}
	id := ThreadID("0194a1b2-0000-7000-8000-0000000000aa")
	r, err := NewRecorder(RecorderConfig{Path: filepath.Join(t.TempDir(), FileName(czTime, id)), Meta: testMeta(id, HistoryModeLegacy), Clock: fakeClock(), Observer: pm.Observer(id)})
	if err != nil {
		t.Fatal(err)
	}
	msg := NewMessage(RoleUser, "hello")
	delta := &EventMsg{Type: "agent_message_delta", Raw: []byte(`{"type":"agent_message_delta","delta":"he"}`)}
	if err := r.Append(msg, delta, msg); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	line, err := MarshalLine(Item{Timestamp: czTime, Payload: msg})
	if err != nil {
		t.Fatal(err)
	}
	msgSize := float64(len(line) + 1) // with its newline
	thread := attribute.String("thread_id", string(id))
	pre := attribute.String("stage", "pre_filter")
	post := attribute.String("stage", "post_filter")
	msgType := attribute.String("rollout_item_type", "response_item/message")
	deltaType := attribute.String("rollout_item_type", "event_msg/agent_message_delta")
	tests := []struct {
		name       string
		attrs      []attribute.KeyValue
		wantItems  int64
		wantBytes  float64
		checkBytes bool
	}{
		{"messages pre", []attribute.KeyValue{pre, msgType, thread}, 2, 2 * msgSize, true},
		{"messages post", []attribute.KeyValue{post, msgType, thread}, 2, 2 * msgSize, true},
		{"delta pre", []attribute.KeyValue{pre, deltaType}, 1, 0, false},
		{"delta post", []attribute.KeyValue{post, deltaType}, 0, 0, true},
	}
	for _, tt := range tests {
		items, _ := tm.collect(t, MetricPersistenceItems, tt.attrs...)
		_, bytes := tm.collect(t, MetricPersistenceBytes, tt.attrs...)
		if items != tt.wantItems || (tt.checkBytes && bytes != tt.wantBytes) {
			t.Errorf("%s: items %d bytes %v, want %d %v", tt.name, items, bytes, tt.wantItems, tt.wantBytes)
		}
		if tt.name == "delta pre" && bytes <= 0 {
			t.Errorf("dropped delta bytes = %v, want > 0", bytes)
		}
	}
}

func TestPersistenceMetricsSampling(t *testing.T) {
	pm, err := NewPersistenceMetrics(PersistenceMetricsConfig{SampleRate: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	in := 0
	const n = 2000
	for i := range n {
		id := ThreadID(FileName(czTime, ThreadID(string(rune('a'+i%26)))) + string(rune(i)))
		first := pm.Sampled(id)
		if first {
			in++
		}
		if again := pm.Sampled(id); again != first {
			t.Fatalf("Sampled(%q) = %v then %v, want stable", id, first, again)
		}
	}
	if in == 0 || in > n/20 {
		t.Errorf("sampled %d of %d threads at rate 0.01, want a few", in, n)
	}
	// An unsampled thread records nothing.
	tm := newTestMeter(t)
	pm, _ = NewPersistenceMetrics(PersistenceMetricsConfig{MeterProvider: tm.provider, SampleRate: 1e-6})
	r, err := NewRecorder(RecorderConfig{Path: filepath.Join(t.TempDir(), FileName(czTime, "0194a1b2-0000-7000-8000-0000000000ab")), Meta: testMeta("0194a1b2-0000-7000-8000-0000000000ab", HistoryModeLegacy), Observer: pm.Observer("0194a1b2-0000-7000-8000-0000000000ab")})
	if err != nil {
		t.Fatal(err)
	}
	if pm.Sampled(r.Meta().ID) {
		t.Fatalf("thread %s sampled at rate 1e-6: pick another id", r.Meta().ID)
	}
	if err := r.Append(NewMessage(RoleUser, "x")); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if items, _ := tm.collect(t, MetricPersistenceItems); items != 0 {
		t.Errorf("unsampled thread recorded %d items", items)
	}
	if _, err := NewPersistenceMetrics(PersistenceMetricsConfig{SampleRate: 2}); err == nil {
		t.Errorf("NewPersistenceMetrics(rate 2) = nil error")
	}
}
