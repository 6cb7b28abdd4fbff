/*
 * utf8.h - UTF-8 as Go reads and writes it: decoding one code point with
 * utf8.DecodeRune's rules (overlong forms, surrogates and values past
 * U+10FFFF are invalid and read as U+FFFD, one byte at a time), encoding,
 * and counting or cutting by code points.  promlite reproduces Go
 * programs' text handling (relabeling, templates, message limits), so one
 * set of rules serves all of them.
 *
 * Ownership: nothing allocates.  Threads: pure functions, any thread.
 */
#ifndef PROMLITE_UTF8_H
#define PROMLITE_UTF8_H

#include <stddef.h>
#include <stdint.h>

#define UTF8_RUNE_ERROR 0xFFFDu

/* Decodes the code point at s[0..n) (n >= 1) into *cp.  Returns the bytes
 * consumed: 1 for an invalid byte, with *cp = U+FFFD. */
size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* Encodes cp (an invalid one as U+FFFD) into out (4 bytes); returns its
 * length. */
size_t utf8_encode(uint32_t cp, char *out);

/* Code points in s[0..n), each invalid byte counting as one. */
size_t utf8_count(const char *s, size_t n);

/* The byte length of the first max code points of s[0..n). */
size_t utf8_prefix(const char *s, size_t n, size_t max);

#endif
