package rollout

import (
	"context"
	"fmt"
	"hash/fnv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// meterName is the instrumentation scope of this package's instruments.
const meterName = "github.com/troupe-run/troupe/rollout"

// Compression instrument names (Codex's codex.rollout_compression.*
// under troupe's prefix). Attributes: status on run instruments; outcome
// (and reason, for skips) on file instruments.
const (
	MetricCompressionRun             = "troupe.rollout_compression.run"
	MetricCompressionRunDuration     = "troupe.rollout_compression.run.duration"
	MetricCompressionFile            = "troupe.rollout_compression.file"
	MetricCompressionFileDuration    = "troupe.rollout_compression.file.duration"
	MetricCompressionSourceBytes     = "troupe.rollout_compression.file.source_bytes"
	MetricCompressionCompressedBytes = "troupe.rollout_compression.file.compressed_bytes"
	MetricCompressionRatio           = "troupe.rollout_compression.file.compression_ratio"
)

// Persistence instrument names. Attributes: stage (pre_filter,
// post_filter), rollout_item_type (the line kind, and for response_item
// and event_msg the payload type, as "event_msg/token_count"), and
// thread_id when PersistenceMetricsConfig.PerThread is set.
const (
	MetricPersistenceBytes = "troupe.rollout.persistence.bytes"
	MetricPersistenceItems = "troupe.rollout.persistence.items"
)

// RunStatus is the status of a compaction run.
type RunStatus string

// Run statuses, as counted by MetricCompressionRun.
const (
	RunStarted          RunStatus = "started"
	RunCompleted        RunStatus = "completed"
	RunFailed           RunStatus = "failed"
	RunSkippedDuplicate RunStatus = "skipped_duplicate"
)

// compressionMetrics are the compactor's instruments.
type compressionMetrics struct {
	run             metric.Int64Counter
	runDuration     metric.Float64Histogram
	file            metric.Int64Counter
	fileDuration    metric.Float64Histogram
	sourceBytes     metric.Int64Histogram
	compressedBytes metric.Int64Histogram
	ratio           metric.Int64Histogram
}

func newCompressionMetrics(mp metric.MeterProvider) (*compressionMetrics, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	m := mp.Meter(meterName)
	var cm compressionMetrics
	var errs [7]error
	cm.run, errs[0] = m.Int64Counter(MetricCompressionRun,
		metric.WithDescription("Compaction runs by status (started, completed, failed, skipped_duplicate)."))
	cm.runDuration, errs[1] = m.Float64Histogram(MetricCompressionRunDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of a compaction run, by final status."))
	cm.file, errs[2] = m.Int64Counter(MetricCompressionFile,
		metric.WithDescription("Rollout files by outcome (scanned, compressed, skipped, failed)."))
	cm.fileDuration, errs[3] = m.Float64Histogram(MetricCompressionFileDuration, metric.WithUnit("s"),
		metric.WithDescription("Time spent on one rollout file, by outcome."))
	cm.sourceBytes, errs[4] = m.Int64Histogram(MetricCompressionSourceBytes, metric.WithUnit("By"),
		metric.WithDescription("Size of a plain rollout that was compressed or failed."))
	cm.compressedBytes, errs[5] = m.Int64Histogram(MetricCompressionCompressedBytes, metric.WithUnit("By"),
		metric.WithDescription("Size of a compressed rollout."))
	cm.ratio, errs[6] = m.Int64Histogram(MetricCompressionRatio, metric.WithUnit("{bp}"),
		metric.WithDescription("Compressed size over source size in basis points (compressed*10000/source)."))
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("rollout: compression metrics: %w", err)
		}
	}
	return &cm, nil
}

func (cm *compressionMetrics) runStatus(ctx context.Context, s RunStatus) {
	cm.run.Add(ctx, 1, metric.WithAttributes(attribute.String("status", string(s))))
}

func (cm *compressionMetrics) runDone(ctx context.Context, s RunStatus, d time.Duration) {
	cm.runStatus(ctx, s)
	cm.runDuration.Record(ctx, d.Seconds(), metric.WithAttributes(attribute.String("status", string(s))))
}

// fileDone records one file: scanned, then its outcome.
func (cm *compressionMetrics) fileDone(ctx context.Context, r FileResult) {
	cm.file.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", string(OutcomeScanned))))
	attrs := []attribute.KeyValue{attribute.String("outcome", string(r.Outcome))}
	if r.Reason != "" {
		attrs = append(attrs, attribute.String("reason", r.Reason))
	}
	set := metric.WithAttributeSet(attribute.NewSet(attrs...))
	cm.file.Add(ctx, 1, set)
	cm.fileDuration.Record(ctx, r.Duration.Seconds(), set)
	if r.Outcome != OutcomeCompressed && r.Outcome != OutcomeFailed {
		return
	}
	cm.sourceBytes.Record(ctx, r.SourceBytes, set)
	if r.Outcome == OutcomeCompressed {
		cm.compressedBytes.Record(ctx, r.CompressedBytes, set)
		if r.SourceBytes > 0 {
			cm.ratio.Record(ctx, r.CompressedBytes*10000/r.SourceBytes, set)
		}
	}
}

// PersistenceMetricsConfig configures PersistenceMetrics.
type PersistenceMetricsConfig struct {
	// MeterProvider provides the instruments; nil means no-op.
	MeterProvider metric.MeterProvider
	// SampleRate is the fraction of threads measured, chosen by a hash of
	// the thread id so that a thread is measured whole or not at all (as
	// Codex samples 1%). 0 means 1 (every thread).
	SampleRate float64
	// PerThread adds a thread_id attribute, for per-thread breakdowns.
	// Each measured thread then makes its own time series: use it with a
	// low SampleRate or for short-lived diagnosis.
	PerThread bool
}

// PersistenceMetrics measures what recorders persist: the bytes (as
// encoded lines) and counts of items offered to Append, per kind, before
// (stage pre_filter) and after (post_filter) the persistence policy
// (ShouldPersist). One value serves every recorder: give each the
// observer of its thread (RecorderConfig.Observer = pm.Observer(id)). It
// is safe for concurrent use.
type PersistenceMetrics struct {
	bytes     metric.Int64Counter
	items     metric.Int64Counter
	threshold uint64 // a thread is sampled if hash%sampleScale < threshold
	perThread bool
}

const sampleScale = 1_000_000

// NewPersistenceMetrics creates the persistence instruments.
func NewPersistenceMetrics(cfg PersistenceMetricsConfig) (*PersistenceMetrics, error) {
	mp := cfg.MeterProvider
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	rate := cfg.SampleRate
	if rate == 0 {
		rate = 1
	}
	if rate < 0 || rate > 1 {
		return nil, fmt.Errorf("rollout: persistence metrics: sample rate %v outside (0, 1]", cfg.SampleRate)
	}
	m := mp.Meter(meterName)
	pm := &PersistenceMetrics{threshold: uint64(rate * sampleScale), perThread: cfg.PerThread}
	var err1, err2 error
	pm.bytes, err1 = m.Int64Counter(MetricPersistenceBytes, metric.WithUnit("By"),
		metric.WithDescription("Encoded bytes of rollout items offered for persistence (pre_filter) and persisted (post_filter), by item type."))
	pm.items, err2 = m.Int64Counter(MetricPersistenceItems,
		metric.WithDescription("Rollout items offered for persistence (pre_filter) and persisted (post_filter), by item type."))
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("rollout: persistence metrics: %w", firstErr(err1, err2))
	}
	return pm, nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Sampled reports whether thread id is measured.
func (pm *PersistenceMetrics) Sampled(id ThreadID) bool {
	if pm == nil {
		return false
	}
	if pm.threshold >= sampleScale {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64()%sampleScale < pm.threshold
}

// Observer returns the PersistObserver to give the recorder of thread id
// (RecorderConfig.Observer), or nil when the thread is not sampled, so
// that an unsampled recorder does no measuring work at all.
func (pm *PersistenceMetrics) Observer(id ThreadID) PersistObserver {
	if pm == nil || !pm.Sampled(id) {
		return nil
	}
	return &threadObserver{pm: pm, id: id}
}

// threadObserver records one thread's measurements.
type threadObserver struct {
	pm *PersistenceMetrics
	id ThreadID
}

// ObservePersist implements PersistObserver: every item counts at stage
// pre_filter, a kept one at post_filter too.
func (o *threadObserver) ObservePersist(kind Kind, payloadType string, bytes int, kept bool) {
	typ := string(kind)
	switch kind {
	case KindEventMsg:
		typ += "/" + CanonicalEventType(payloadType)
	case KindResponseItem:
		typ += "/" + payloadType
	}
	ctx := context.Background()
	o.pm.add(ctx, o.id, "pre_filter", typ, bytes)
	if kept {
		o.pm.add(ctx, o.id, "post_filter", typ, bytes)
	}
}

func (pm *PersistenceMetrics) add(ctx context.Context, id ThreadID, stage, typ string, size int) {
	attrs := []attribute.KeyValue{attribute.String("stage", stage), attribute.String("rollout_item_type", typ)}
	if pm.perThread {
		attrs = append(attrs, attribute.String("thread_id", string(id)))
	}
	set := metric.WithAttributeSet(attribute.NewSet(attrs...))
	pm.bytes.Add(ctx, int64(size), set)
	pm.items.Add(ctx, 1, set)
}
