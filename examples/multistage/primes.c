/* Counts the primes below N (default 100000) with a sieve. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 100000;
    if (n < 2) n = 2;
    char *composite = calloc((size_t)n, 1);
    if (composite == NULL) return 1;
    long count = 0;
    for (long i = 2; i < n; i++) {
        if (composite[i]) continue;
        count++;
        for (long j = i * i; j < n; j += i) composite[j] = 1;
    }
    printf("%ld primes below %ld\n", count, n);
    free(composite);
    return 0;
}
