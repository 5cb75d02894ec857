package icon

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/png"
)

// PNG encodes img as PNG with the best compression (the output is
// deterministic for a given Go release).
func PNG(img image.Image) ([]byte, error) {
	var b bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&b, img); err != nil {
		return nil, fmt.Errorf("encode png: %w", err)
	}
	return b.Bytes(), nil
}

// ICO packs PNG images into an ICO file (PNG entries, as Windows Vista
// and later read them). Each image must be square and at most 256 pixels.
func ICO(pngs [][]byte) ([]byte, error) {
	var b bytes.Buffer
	le := binary.LittleEndian
	header := make([]byte, 6)
	le.PutUint16(header[2:], 1) // type: icon
	le.PutUint16(header[4:], uint16(len(pngs)))
	b.Write(header)
	offset := 6 + 16*len(pngs)
	for i, p := range pngs {
		cfg, err := png.DecodeConfig(bytes.NewReader(p))
		if err != nil {
			return nil, fmt.Errorf("ico entry %d: %w", i, err)
		}
		if cfg.Width != cfg.Height || cfg.Width > 256 || cfg.Width < 1 {
			return nil, fmt.Errorf("ico entry %d: %dx%d is not a square of at most 256", i, cfg.Width, cfg.Height)
		}
		e := make([]byte, 16)
		e[0], e[1] = byte(cfg.Width%256), byte(cfg.Height%256) // 0 means 256
		le.PutUint16(e[4:], 1)                                 // planes
		le.PutUint16(e[6:], 32)                                // bits per pixel
		le.PutUint32(e[8:], uint32(len(p)))
		le.PutUint32(e[12:], uint32(offset))
		b.Write(e)
		offset += len(p)
	}
	for _, p := range pngs {
		b.Write(p)
	}
	return b.Bytes(), nil
}

// ICOEntries returns the PNG images inside an ICO written by [ICO]; it
// checks every offset and length against the data.
func ICOEntries(data []byte) ([][]byte, error) {
	le := binary.LittleEndian
	if len(data) < 6 || le.Uint16(data[0:]) != 0 || le.Uint16(data[2:]) != 1 {
		return nil, fmt.Errorf("ico: bad header")
	}
	n := int(le.Uint16(data[4:]))
	if len(data) < 6+16*n {
		return nil, fmt.Errorf("ico: %d entries do not fit in %d bytes", n, len(data))
	}
	out := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		e := data[6+16*i:]
		size, off := le.Uint32(e[8:]), le.Uint32(e[12:])
		if uint64(off)+uint64(size) > uint64(len(data)) {
			return nil, fmt.Errorf("ico: entry %d (offset %d, %d bytes) runs past the end", i, off, size)
		}
		out = append(out, data[off:off+size])
	}
	return out, nil
}
