// The `rtsp` source adapter lands with the live-sources issue (docs/sources.md).
// This target exists so the package layout is final; it registers nothing yet.
import Gateway
