package metrics

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"fileserver/internal/streaming"
)

func TestHandlerExportsEngineCounters(t *testing.T) {
	e := streaming.New(streaming.Options{BufferSize: 4096})
	e.Copy(context.Background(), io.Discard, bytes.NewReader(make([]byte, 12345)),
		streaming.Transfer{Protocol: "v2", Direction: streaming.Upload})
	e.Copy(context.Background(), io.Discard, bytes.NewReader(make([]byte, 10)),
		streaming.Transfer{Protocol: "v2", Direction: streaming.Upload, Limit: 5})
	rec := httptest.NewRecorder()
	Handler(e).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`fileserver_transfers_total{direction="upload",protocol="v2",result="ok"} 1`,
		`fileserver_transfers_total{direction="upload",protocol="v2",result="too_large"} 1`,
		`fileserver_transfer_bytes_total{direction="upload",protocol="v2"} 12345`,
		`fileserver_transfers_in_flight{direction="download"} 0`,
		`fileserver_buffer_pool_in_use_bytes 0`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
