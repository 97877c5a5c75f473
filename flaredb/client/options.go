package client

import (
	"net/http"
	"time"

	"connectrpc.com/connect"
)

// Defaults for the options.
const (
	DefaultRetryBudget    = 20 * time.Second
	DefaultRequestTimeout = 10 * time.Second
	DefaultBackoffBase    = 5 * time.Millisecond
	DefaultBackoffMax     = 1 * time.Second
	DefaultBatchSize      = 512
	DefaultConcurrency    = 16
)

// Option configures a Client.
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	httpClient      connect.HTTPClient
	connectOpts     []connect.ClientOption
	retryBudget     time.Duration
	requestTimeout  time.Duration
	backoffBase     time.Duration
	backoffMax      time.Duration
	batchSize       int
	concurrency     int
	noCoalesce      bool
	noStoreBatch    bool
	storeBatchDepth int
}

func defaultOptions() options {
	return options{
		retryBudget:     DefaultRetryBudget,
		requestTimeout:  DefaultRequestTimeout,
		backoffBase:     DefaultBackoffBase,
		backoffMax:      DefaultBackoffMax,
		batchSize:       DefaultBatchSize,
		concurrency:     DefaultConcurrency,
		storeBatchDepth: 1,
	}
}

// WithHTTPClient sets the HTTP client used for PD and stores. It must speak
// HTTP/2 (the default one uses cleartext HTTP/2 with prior knowledge).
func WithHTTPClient(c connect.HTTPClient) Option {
	return optionFunc(func(o *options) { o.httpClient = c })
}

// WithConnectOptions adds connect client options (interceptors, codecs,
// ...) to every RPC client the Client creates. The gRPC protocol is used
// unless these options choose another.
func WithConnectOptions(opts ...connect.ClientOption) Option {
	return optionFunc(func(o *options) { o.connectOpts = append(o.connectOpts, opts...) })
}

// WithRetryBudget bounds the total time of one call, retries included,
// when its context has no deadline.
func WithRetryBudget(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d > 0 {
			o.retryBudget = d
		}
	})
}

// WithRequestTimeout bounds one attempt (one RPC to one store or PD).
func WithRequestTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d > 0 {
			o.requestTimeout = d
		}
	})
}

// WithBackoff sets the first and the largest pause between retries.
func WithBackoff(base, maxDelay time.Duration) Option {
	return optionFunc(func(o *options) {
		if base > 0 && maxDelay >= base {
			o.backoffBase, o.backoffMax = base, maxDelay
		}
	})
}

// MaxBatchSize is the most keys a store accepts in one batch request.
const MaxBatchSize = 4096

// WithBatchSize sets how many keys one per-region batch request carries (at
// most MaxBatchSize). Requests are also kept under 1 MiB of keys and values.
func WithBatchSize(n int) Option {
	return optionFunc(func(o *options) {
		if n > 0 {
			o.batchSize = min(n, MaxBatchSize)
		}
	})
}

// WithConcurrency bounds the per-region requests one batch call has in
// flight.
func WithConcurrency(n int) Option {
	return optionFunc(func(o *options) {
		if n > 0 {
			o.concurrency = n
		}
	})
}

// WithoutCoalescing sends every Put and Get as its own request instead of
// merging concurrent ones bound for the same region into one batch request
// (see coalesce.go).
func WithoutCoalescing() Option {
	return optionFunc(func(o *options) { o.noCoalesce = true })
}

// WithStoreBatching chooses how concurrent Puts and Gets are merged (on
// by default): per store, into one StoreBatch request carrying a batch per
// region (on), or per region, into one BatchPut/BatchGet request (off).
// See storebatch.go. WithoutCoalescing turns both off.
func WithStoreBatching(on bool) Option {
	return optionFunc(func(o *options) { o.noStoreBatch = !on })
}

// WithStoreBatchDepth sets how many StoreBatch requests of one kind (puts
// or gets) may be in flight to one store at once (default 1). Calls that
// arrive while all are in flight queue for the next one to return.
func WithStoreBatchDepth(n int) Option {
	return optionFunc(func(o *options) {
		if n > 0 {
			o.storeBatchDepth = n
		}
	})
}

func newH2CClient() *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols), MaxIdleConnsPerHost: 64}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: tr}
}
