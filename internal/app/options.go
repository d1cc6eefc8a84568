// Package app turns the configuration into the options of each component: the one place
// that reads config.Config below the command, so that every other package takes a small
// options struct of its own and none imports the configuration.
package app

import (
	"net/netip"

	"fileserver/internal/adaptivebuf"
	"fileserver/internal/config"
	"fileserver/internal/handlers"
	"fileserver/internal/scan"
	"fileserver/internal/streaming"
)

// EngineOptions are the streaming engine's options from the [streaming] section.
func EngineOptions(c config.Streaming) streaming.Options {
	pol, _ := adaptivebuf.ParsePolicy(c.OnBudgetExhausted) // validated: the name is known
	cp := streaming.ChunkAdaptive
	if c.ChunkPolicy == "fixed" {
		cp = streaming.ChunkFixed
	}
	return streaming.Options{
		BufferSize: int(c.BufferSize), Adaptive: c.Adaptive,
		MinBuffer: int(c.MinBuffer), MaxBuffer: int(c.MaxBuffer),
		MemoryBudget: int64(c.MemoryBudget), OnBudgetExhausted: pol, BudgetWait: c.BudgetWait.D(),
		ChunkPolicy: cp, ChunkTarget: c.ChunkTarget.D(),
		MinChunk: int64(c.MinChunk), MaxChunk: int64(c.MaxChunk), ProfileTTL: c.ProfileTTL.D(),
	}
}

// HandlerConfig is what the HTTP handlers are told of the configuration.
func HandlerConfig(c config.Config) handlers.Config {
	h := handlers.Config{
		UploadPrefix: c.Upload.Prefix, ResumablePrefix: c.Resumable.Prefix,
		MaxSize: int64(c.Upload.MaxSize), MaxSizeText: c.Upload.MaxSize.String(),
		AllowedExtensions: c.Upload.AllowedExtensions, DeniedExtensions: c.Upload.DeniedExtensions,
		ReadIdleTimeout: c.Upload.ReadIdleTimeout.D(), WriteIdleTimeout: c.Download.WriteIdleTimeout.D(),
		SessionTTL: c.Resumable.SessionTTL.D(), ClockSkew: c.Auth.ClockSkew.D(),
		PublicURL: c.Server.PublicURL, Listen: c.Server.Listen,
		TrustedProxies: Prefixes(c.Server.TrustedProxies),
		HSTSMaxAge:     c.Server.HSTSMaxAge.D(),
		CORS:           handlers.CORS{Enabled: c.CORS.Enabled, AllowedOrigins: c.CORS.AllowedOrigins, MaxAge: c.CORS.MaxAge.D()},
		Cache: handlers.Cache{
			SmallFileCache: int64(c.Download.SmallFileCache), SmallFileMax: int64(c.Download.SmallFileMax),
			OpenFiles: c.Download.OpenFiles, Revalidate: c.Download.Revalidate.D(),
		},
		Limits: handlers.Limits{
			MaxConcurrentUploads: c.Limits.MaxConcurrentUploads, PerClientUploads: c.Limits.PerClientUploads,
			PerClientRate: c.Limits.PerClientRate, MinUploadRate: int64(c.Limits.MinUploadRate),
			MinRateGrace: c.Limits.MinRateGrace.D(), IPv6Prefix: c.Limits.IPv6Prefix,
		},
		RedirectDownloads: c.Storage.S3.RedirectDownloads, RedirectExpiry: c.Storage.S3.RedirectExpiry.D(),
		MetricsNetworks: Prefixes(c.Metrics.AllowedNetworks),
	}
	if c.Metrics.Enabled && c.Metrics.Listen == "" {
		h.MetricsPath = c.Metrics.Path // with its own listener, metrics are served there
	}
	return h
}

// Prefixes parses a validated list of addresses and CIDR networks.
func Prefixes(list []string) []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range list {
		if p, err := config.ParsePrefix(s); err == nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// Scanner is the malware scanner the [scan] section configures; nil when scanning is off.
func Scanner(c config.Scan) *scan.Scanner {
	network, address, err := c.Address()
	if c.Clamd == "" || err != nil {
		return nil
	}
	return scan.New(scan.Options{Network: network, Address: address, MaxSize: int64(c.MaxSize),
		Accept: c.OnUnreachable == "accept", Timeout: c.Timeout.D()})
}
