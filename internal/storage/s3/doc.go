// Package s3 keeps complete uploaded files in an S3-compatible object store (AWS S3,
// versitygw, Ceph RGW, Garage...), so that several fileserver nodes can share one set of
// files. It implements storage.Store; resumable uploads (storage.Partials) are not offered
// yet.
//
// It must never expose a partial object and never replace an existing one: an upload streams
// into a multipart upload that becomes visible only when CompleteMultipartUpload succeeds,
// and that request (or the single PutObject of a small upload) carries If-None-Match: *, so
// the object store itself refuses to overwrite a name, whichever node asked first. Memory per
// upload is bounded by (Options.Concurrency + 1) parts; nothing is spooled to local disk.
package s3
