package handlers

import "net/http"

// OpenHandles is how many idle file handles the download cache of h keeps.
func OpenHandles(h http.Handler) int {
	s := h.(*Server)
	if s.downloads == nil {
		return 0
	}
	s.downloads.mu.Lock()
	defer s.downloads.mu.Unlock()
	return s.downloads.order.Len()
}

// CachedBytes is what the small-file cache of h (a *Server) holds, as its bound counts it.
func CachedBytes(h http.Handler) int64 {
	s := h.(*Server)
	if s.downloads == nil {
		return 0
	}
	return s.downloads.cachedBytes()
}
