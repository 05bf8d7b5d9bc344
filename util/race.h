/* Reads that race with writers by design, marked for ThreadSanitizer (test.sh's race
 * check of the migration tests runs a TSan build): guest RAM read by a VMM thread while
 * the guest and the devices write it, where the dirty log sends every page written
 * meanwhile again. Nothing in any other build. */
#ifndef PAGODA_UTIL_RACE_H
#define PAGODA_UTIL_RACE_H

#ifdef __SANITIZE_THREAD__
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
#define RACY_READS_BEGIN() AnnotateIgnoreReadsBegin(__FILE__, __LINE__)
#define RACY_READS_END() AnnotateIgnoreReadsEnd(__FILE__, __LINE__)
#else
#define RACY_READS_BEGIN() do { } while (0)
#define RACY_READS_END() do { } while (0)
#endif

#endif
