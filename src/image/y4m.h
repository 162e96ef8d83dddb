// y4m: YUV4MPEG2 video streams (ffmpeg's -f yuv4mpegpipe), frame by frame, and the
// conversions between their 8-bit Y'CbCr frames and float RGB images.
//
// Read: 8-bit 4:2:0 (C420jpeg, C420paldv, C420mpeg2, C420, or no C), 4:2:2, 4:4:4 and
// mono; other colour spaces (high bit depth, 4:1:1, alpha) are refused. Interlaced
// streams are treated as progressive frames (and said to be progressive on output). The range is XCOLORRANGE's (ffmpeg's
// extension; LIMITED when absent). Y4M has no field for the matrix, so the caller
// chooses it (y4m_default_matrix: BT.709 from 720 lines up, else BT.601, as players
// guess). Chroma is upsampled by repetition and downsampled by the mean of the block,
// so a frame converted to RGB and back keeps its chroma (up to rounding).
#pragma once
#include <stdint.h>
#include <stdio.h>

#include "image/image.h"

enum { Y4M_420, Y4M_422, Y4M_444, Y4M_MONO };

typedef struct {
    int w, h;            // luma size
    int chroma;          // Y4M_420, ...
    int cw, ch;          // chroma plane size (0 for mono)
    int full_range;      // XCOLORRANGE=FULL
    int interlaced;      // It, Ib or Im; params holds Ip instead (see y4m_read_header)
    int matrix;          // 601 or 709: set by the caller after y4m_read_header
    char params[512];    // the header's parameters other than W and H, as read
    size_t frame_bytes;  // Y + Cb + Cr
} y4m_stream;

// Reads "YUV4MPEG2 ..." up to its newline (at most 512 bytes). `magic_read` bytes of
// "YUV4MPEG2" were already taken from fp (0..9). Checks the size against as_limits.
int y4m_read_header(FILE *fp, const char *name, size_t magic_read, y4m_stream *s);
// Reads the next frame into buf (frame_bytes). 1: a frame; 0: the stream ended cleanly
// (between frames); -1: an error, a cut frame included (frame_index in its message).
int y4m_read_frame(FILE *fp, const char *name, const y4m_stream *s, long frame_index, uint8_t *buf);
// The same stream's header with the size w x h.
int y4m_write_header(FILE *fp, const char *name, const y4m_stream *s, int w, int h);
int y4m_write_frame(FILE *fp, const char *name, const y4m_stream *s, const uint8_t *buf);

// A stream of the same kind at w x h (for y4m_from_rgb's buffer and the output).
y4m_stream y4m_resized(const y4m_stream *s, int w, int h);
int y4m_default_matrix(const y4m_stream *s);

// frame -> rgb (allocated here, w x h x 3, gray = 1 for mono), and back (rgb is s's
// size; values clamped, rounded half up).
int y4m_to_rgb(const y4m_stream *s, const uint8_t *frame, image *rgb);
void y4m_from_rgb(const y4m_stream *s, const image *rgb, uint8_t *frame);
