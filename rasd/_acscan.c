/* rasd._acscan: a small Aho-Corasick automaton for the extraction scanners (optional compiled module).
 *
 * The subset of pyahocorasick's Automaton that rasd uses, with the same results in the same order:
 *   a = Automaton(); a.add_word(key, value)  (a repeated key replaces its value); a.make_automaton();
 *   a.iter(text[, start[, end]]) -> (end_index, value) for every key occurrence in text[start:end], by end
 *   index, and at one end longest key first (the node, then its suffix links).
 * Why: the five automata of rasd/extract scan every article; pyahocorasick finds a node's child by a linear
 * scan of its children, and most of the scan's time is spent at the root and its near descendants, which
 * have one child per Arabic letter. Here the root has a direct table over the BMP and other nodes a sorted
 * child array (binary search when long). Keys and values are kept as given; values are returned as the
 * same objects (callers cache by id()). rasd.extract.common.new_automaton() falls back to pyahocorasick
 * when this module is not built; tests/test_acscan.py checks both give equal lists on real articles.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    Py_UCS4 ch;
    int32_t child;
} Edge;

typedef struct {
    Edge *edges;       /* children, sorted by ch once built */
    int32_t nedges;
    int32_t cap;
    int32_t fail;      /* longest proper suffix that is a node */
    int32_t out;       /* nearest terminal node on the fail chain (excluding this node), -1 if none */
    int32_t depth;
    PyObject *value;   /* NULL unless a key ends here */
} Node;

#define ROOT_TABLE 0x10000

typedef struct {
    PyObject_HEAD
    Node *nodes;
    int32_t nnodes;
    int32_t capnodes;
    int32_t *root_next;   /* ROOT_TABLE entries once built: child of the root for a BMP char, 0 = none */
    int built;
    Py_ssize_t nwords;
} Automaton;

static PyTypeObject AutomatonType;
static PyTypeObject IterType;
static PyObject *new_iter(Automaton *self, PyObject *text, Py_ssize_t start, Py_ssize_t end, int words,
                          int word_end, PyObject *prefixes);

static int32_t new_node(Automaton *a, int32_t depth) {
    if (a->nnodes == a->capnodes) {
        int32_t cap = a->capnodes ? a->capnodes * 2 : 1024;
        Node *n = PyMem_Realloc(a->nodes, sizeof(Node) * (size_t)cap);
        if (!n) { PyErr_NoMemory(); return -1; }
        a->nodes = n;
        a->capnodes = cap;
    }
    Node *n = &a->nodes[a->nnodes];
    memset(n, 0, sizeof(Node));
    n->out = -1;
    n->depth = depth;
    return a->nnodes++;
}

static inline int32_t child_of(const Node *n, Py_UCS4 c) {
    int32_t lo = 0, hi = n->nedges;
    const Edge *e = n->edges;
    if (hi <= 8) {
        for (int32_t i = 0; i < hi; i++)
            if (e[i].ch == c) return e[i].child;
        return -1;
    }
    while (lo < hi) {
        int32_t mid = (lo + hi) >> 1;
        if (e[mid].ch < c) lo = mid + 1; else hi = mid;
    }
    return (lo < n->nedges && e[lo].ch == c) ? e[lo].child : -1;
}

static int32_t child_unsorted(const Node *n, Py_UCS4 c) {
    for (int32_t i = 0; i < n->nedges; i++)
        if (n->edges[i].ch == c) return n->edges[i].child;
    return -1;
}

static int add_edge(Automaton *a, int32_t parent, Py_UCS4 c, int32_t child) {
    Node *p = &a->nodes[parent];
    if (p->nedges == p->cap) {
        int32_t cap = p->cap ? p->cap * 2 : 2;
        Edge *e = PyMem_Realloc(p->edges, sizeof(Edge) * (size_t)cap);
        if (!e) { PyErr_NoMemory(); return -1; }
        p->edges = e;
        p->cap = cap;
    }
    p->edges[p->nedges].ch = c;
    p->edges[p->nedges].child = child;
    p->nedges++;
    return 0;
}

static int Automaton_init(Automaton *self, PyObject *args, PyObject *kw) {
    if (PyTuple_GET_SIZE(args) || (kw && PyDict_GET_SIZE(kw))) {
        PyErr_SetString(PyExc_TypeError, "Automaton() takes no arguments");
        return -1;
    }
    if (self->nnodes == 0 && new_node(self, 0) < 0) return -1;
    return 0;
}

static void Automaton_dealloc(Automaton *self) {
    for (int32_t i = 0; i < self->nnodes; i++) {
        Py_XDECREF(self->nodes[i].value);
        PyMem_Free(self->nodes[i].edges);
    }
    PyMem_Free(self->nodes);
    PyMem_Free(self->root_next);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Automaton_add_word(Automaton *self, PyObject *args) {
    PyObject *key, *value;
    if (!PyArg_ParseTuple(args, "UO:add_word", &key, &value)) return NULL;
    if (self->nnodes == 0 && new_node(self, 0) < 0) return NULL;
    Py_ssize_t len = PyUnicode_GET_LENGTH(key);
    if (len == 0) Py_RETURN_FALSE;  /* pyahocorasick ignores an empty key */
    int kind = PyUnicode_KIND(key);
    const void *data = PyUnicode_DATA(key);
    int32_t cur = 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        int32_t nxt = child_unsorted(&self->nodes[cur], c);
        if (nxt < 0) {
            nxt = new_node(self, self->nodes[cur].depth + 1);
            if (nxt < 0 || add_edge(self, cur, c, nxt) < 0) return NULL;
        }
        cur = nxt;
    }
    self->built = 0;
    Node *n = &self->nodes[cur];
    int fresh = n->value == NULL;
    Py_INCREF(value);
    Py_XSETREF(n->value, value);
    if (fresh) self->nwords++;
    return PyBool_FromLong(fresh);
}

static int cmp_edge(const void *x, const void *y) {
    Py_UCS4 a = ((const Edge *)x)->ch, b = ((const Edge *)y)->ch;
    return (a > b) - (a < b);
}

static PyObject *Automaton_make(Automaton *self, PyObject *unused) {
    if (self->nnodes == 0 && new_node(self, 0) < 0) return NULL;
    int32_t n = self->nnodes;
    for (int32_t i = 0; i < n; i++)
        if (self->nodes[i].nedges > 1)
            qsort(self->nodes[i].edges, (size_t)self->nodes[i].nedges, sizeof(Edge), cmp_edge);
    if (!self->root_next) {
        self->root_next = PyMem_Malloc(sizeof(int32_t) * ROOT_TABLE);
        if (!self->root_next) return PyErr_NoMemory();
    }
    memset(self->root_next, 0, sizeof(int32_t) * ROOT_TABLE);
    Node *root = &self->nodes[0];
    for (int32_t i = 0; i < root->nedges; i++)
        if (root->edges[i].ch < ROOT_TABLE) self->root_next[root->edges[i].ch] = root->edges[i].child;
    /* breadth-first: fail links, then output links */
    int32_t *queue = PyMem_Malloc(sizeof(int32_t) * (size_t)n);
    if (!queue) return PyErr_NoMemory();
    int32_t qh = 0, qt = 0;
    root->fail = 0;
    root->out = -1;
    for (int32_t i = 0; i < root->nedges; i++) {
        int32_t c = root->edges[i].child;
        self->nodes[c].fail = 0;
        self->nodes[c].out = -1;
        queue[qt++] = c;
    }
    while (qh < qt) {
        int32_t u = queue[qh++];
        Node *nu = &self->nodes[u];
        for (int32_t i = 0; i < nu->nedges; i++) {
            Py_UCS4 c = nu->edges[i].ch;
            int32_t v = nu->edges[i].child;
            int32_t f = nu->fail;
            int32_t t;
            for (;;) {
                t = child_of(&self->nodes[f], c);
                if (t >= 0 || f == 0) break;
                f = self->nodes[f].fail;
            }
            if (t < 0 || t == v) t = 0;
            Node *nv = &self->nodes[v];
            nv->fail = t;
            nv->out = self->nodes[t].value ? t : self->nodes[t].out;
            queue[qt++] = v;
        }
    }
    PyMem_Free(queue);
    self->built = 1;
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ iterator */

typedef struct {
    PyObject_HEAD
    Automaton *a;
    PyObject *text;
    int kind;
    const void *data;
    Py_ssize_t pos;      /* next character to read */
    Py_ssize_t end;
    int32_t state;
    int32_t pending;     /* next output node at pos - 1, or -1 */
    int words;           /* iter_words: only whole-word hits, yielded as (start, end, prefix, value) */
    int word_end;        /* iter_words: the hit must end at a word end */
    PyObject *prefixes;  /* iter_words: the strings allowed glued before a hit (None: none) */
} Iter;

static PyObject *Automaton_iter(Automaton *self, PyObject *args) {
    PyObject *text;
    Py_ssize_t start = 0, end = PY_SSIZE_T_MAX;
    if (!PyArg_ParseTuple(args, "U|nn:iter", &text, &start, &end)) return NULL;
    return new_iter(self, text, start, end, 0, 0, Py_None);
}

/* iter_words(text, prefixes=None, word_end=True) -> (start, end, prefix, value) for every key occurrence
 * that is a whole word of text: it does not run on into a letter (when word_end) and it starts a word or
 * follows at most 4 letters that start the word and are one of ``prefixes`` (Arabic proclitics
 * "و", "بال", "لل"...; a container of str). "Letter" is str.isalpha. Same hits as this Python loop over
 * iter(text) (rasd.extract.common.word_hits is that loop, the fallback):
 *     end = end_index + 1; start = end - len(key)
 *     if word_end and end < len(text) and text[end].isalpha(): skip
 *     if start and text[start - 1].isalpha():
 *         ws = start - 1
 *         while ws > 0 and text[ws - 1].isalpha() and start - ws <= 4: ws -= 1
 *         if prefixes is None or text[ws:start] not in prefixes or (ws > 0 and text[ws - 1].isalpha()): skip
 *         prefix = text[ws:start]
 *     else: prefix = ""
 */
static PyObject *Automaton_iter_words(Automaton *self, PyObject *args, PyObject *kw) {
    static char *names[] = {"text", "prefixes", "word_end", NULL};
    PyObject *text, *prefixes = Py_None;
    int word_end = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "U|Op:iter_words", names, &text, &prefixes, &word_end))
        return NULL;
    return new_iter(self, text, 0, PY_SSIZE_T_MAX, 1, word_end, prefixes);
}

static PyObject *new_iter(Automaton *self, PyObject *text, Py_ssize_t start, Py_ssize_t end, int words,
                          int word_end, PyObject *prefixes) {
    if (!self->built) {
        PyErr_SetString(PyExc_AttributeError, "not an Aho-Corasick automaton yet: call make_automaton()");
        return NULL;
    }
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    if (start < 0) start += len;
    if (end < 0) end += len;
    if (start < 0) start = 0;
    if (end > len) end = len;
    Iter *it = PyObject_New(Iter, &IterType);
    if (!it) return NULL;
    Py_INCREF(self);
    Py_INCREF(text);
    it->a = self;
    it->text = text;
    it->kind = PyUnicode_KIND(text);
    it->data = PyUnicode_DATA(text);
    it->pos = start;
    it->end = end;
    it->state = 0;
    it->pending = -1;
    it->words = words;
    it->word_end = word_end;
    Py_INCREF(prefixes);
    it->prefixes = prefixes;
    return (PyObject *)it;
}

static void Iter_dealloc(Iter *it) {
    Py_XDECREF(it->a);
    Py_XDECREF(it->text);
    Py_XDECREF(it->prefixes);
    PyObject_Free(it);
}

/* 1: node o's key ending at pos - 1 is a whole word (prefix set, new reference, "" when none); 0: not;
 * -1: error. */
static int whole_word(Iter *it, int32_t o, Py_ssize_t pos, PyObject **prefix) {
    const int kind = it->kind;
    const void *data = it->data;
    Py_ssize_t n = PyUnicode_GET_LENGTH(it->text);
    Py_ssize_t end = pos, start = pos - it->a->nodes[o].depth;
    *prefix = NULL;
    if (it->word_end && end < n && Py_UNICODE_ISALPHA(PyUnicode_READ(kind, data, end))) return 0;
    if (start == 0 || !Py_UNICODE_ISALPHA(PyUnicode_READ(kind, data, start - 1))) {
        *prefix = PyUnicode_New(0, 0);
        return *prefix ? 1 : -1;
    }
    if (it->prefixes == Py_None) return 0;
    Py_ssize_t ws = start - 1;
    while (ws > 0 && Py_UNICODE_ISALPHA(PyUnicode_READ(kind, data, ws - 1)) && start - ws <= 4) ws--;
    if (ws > 0 && Py_UNICODE_ISALPHA(PyUnicode_READ(kind, data, ws - 1))) return 0;
    PyObject *p = PyUnicode_Substring(it->text, ws, start);
    if (!p) return -1;
    int in = PySequence_Contains(it->prefixes, p);
    if (in <= 0) {
        Py_DECREF(p);
        return in;
    }
    *prefix = p;
    return 1;
}

static PyObject *Iter_next(Iter *it) {
    Automaton *a = it->a;
    if (!a->built) {
        PyErr_SetString(PyExc_ValueError, "the automaton changed during iteration");
        return NULL;
    }
    Node *nodes = a->nodes;
    for (;;) {
        int32_t o = it->pending;
        if (o < 0) {
            const int32_t *root_next = a->root_next;
            const int kind = it->kind;
            const void *data = it->data;
            Py_ssize_t pos = it->pos, end = it->end;
            int32_t state = it->state;
            while (pos < end) {
                Py_UCS4 c = PyUnicode_READ(kind, data, pos);
                pos++;
                for (;;) {
                    if (state == 0) {
                        if (c < ROOT_TABLE) {
                            state = root_next[c];
                        } else {
                            int32_t t = child_of(&nodes[0], c);
                            state = t < 0 ? 0 : t;
                        }
                        break;
                    }
                    int32_t t = child_of(&nodes[state], c);
                    if (t >= 0) { state = t; break; }
                    state = nodes[state].fail;
                }
                o = nodes[state].value ? state : nodes[state].out;
                if (o >= 0) break;
            }
            it->pos = pos;
            it->state = state;
            if (o < 0) return NULL;  /* StopIteration */
        }
        it->pending = nodes[o].out;
        if (!it->words) {
            PyObject *idx = PyLong_FromSsize_t(it->pos - 1);
            if (!idx) return NULL;
            PyObject *t = PyTuple_New(2);
            if (!t) { Py_DECREF(idx); return NULL; }
            Py_INCREF(nodes[o].value);
            PyTuple_SET_ITEM(t, 0, idx);
            PyTuple_SET_ITEM(t, 1, nodes[o].value);
            return t;
        }
        PyObject *prefix;
        int ok = whole_word(it, o, it->pos, &prefix);
        if (ok < 0) return NULL;
        if (!ok) continue;
        PyObject *t = PyTuple_New(4);
        PyObject *s = PyLong_FromSsize_t(it->pos - nodes[o].depth);
        PyObject *e = PyLong_FromSsize_t(it->pos);
        if (!t || !s || !e) { Py_XDECREF(t); Py_XDECREF(s); Py_XDECREF(e); Py_DECREF(prefix); return NULL; }
        Py_INCREF(nodes[o].value);
        PyTuple_SET_ITEM(t, 0, s);
        PyTuple_SET_ITEM(t, 1, e);
        PyTuple_SET_ITEM(t, 2, prefix);
        PyTuple_SET_ITEM(t, 3, nodes[o].value);
        return t;
    }
}

/* Up to n words before pos into words[] (new references), nearest first: the whitespace-separated pieces
 * of text[max(0, pos - window):pos] from the right, stripped of the characters of ``strip`` at both ends,
 * empty ones skipped. Returns the count, or -1 on error. (rasd.extract.places._prev_words in Python.) */
static Py_ssize_t words_before(PyObject *text, Py_ssize_t pos, Py_ssize_t n, Py_ssize_t window, PyObject *strip,
                               PyObject **words) {
    const int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    if (pos > len) pos = len;
    if (pos < 0) pos = 0;
    Py_ssize_t lo = pos - window < 0 ? 0 : pos - window;
    const int skind = PyUnicode_KIND(strip);
    const void *sdata = PyUnicode_DATA(strip);
    Py_ssize_t slen = PyUnicode_GET_LENGTH(strip);
    Py_ssize_t count = 0, i = pos;
    while (i > lo && count < n) {
        while (i > lo && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i - 1))) i--;
        if (i == lo) break;
        Py_ssize_t e = i;
        while (i > lo && !Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i - 1))) i--;
        Py_ssize_t s = i, we = e;
        for (; s < we; s++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, s);
            Py_ssize_t k = 0;
            while (k < slen && PyUnicode_READ(skind, sdata, k) != c) k++;
            if (k == slen) break;
        }
        for (; we > s; we--) {
            Py_UCS4 c = PyUnicode_READ(kind, data, we - 1);
            Py_ssize_t k = 0;
            while (k < slen && PyUnicode_READ(skind, sdata, k) != c) k++;
            if (k == slen) break;
        }
        if (we == s) continue;
        PyObject *w = PyUnicode_Substring(text, s, we);
        if (!w) {
            while (count) Py_DECREF(words[--count]);
            return -1;
        }
        words[count++] = w;
    }
    return count;
}

/* ------------------------------------------------------------------ places: longest whole-word matches */

typedef struct {
    Py_ssize_t s, e;     /* the key's span in the text (original offsets) */
    Py_ssize_t plen;     /* proclitic length (after the quote fix-up) */
    Py_ssize_t vws;      /* view offset where the proclitic starts */
    Py_ssize_t order;    /* automaton order, the tie-break of a stable sort */
    int32_t node;
    int with_article;
    PyObject *ok;        /* borrowed: the entries tuple the proclitic selects */
} PlaceHit;

static int cmp_longest(const void *x, const void *y) {
    const PlaceHit *a = x, *b = y;
    Py_ssize_t la = a->e - a->s + a->plen, lb = b->e - b->s + b->plen;
    if (la != lb) return la > lb ? -1 : 1;
    if (a->s != b->s) return a->s < b->s ? -1 : 1;
    return (a->order > b->order) - (a->order < b->order);
}

static int cmp_start(const void *x, const void *y) {
    const PlaceHit *a = x, *b = y;
    return (a->s > b->s) - (a->s < b->s);
}

/* The context of one kept hit, items 6..9 of its tuple t (rasd.extract.places._hit_context in Python):
 * cue = cue_forms.get(w0), not_place = w0 in not_place, near = any word in near_forms or w0 in
 * direction_forms (w0 the nearest of the nwords words before the proclitic; None/False/False when there is
 * none), clitic_word = a one-letter proclitic + key is in clitic_words ("لبنان" is not ل + "بنان"). */
static int place_context(PyObject *t, PyObject *text, const PlaceHit *h, const Node *nodes, PyObject *cue_forms,
                         PyObject *not_place, PyObject *near_forms, PyObject *direction_forms,
                         PyObject *clitic_words, Py_ssize_t nwords, Py_ssize_t window, PyObject *strip,
                         PyObject **cw) {
    Py_ssize_t k = words_before(text, h->s - h->plen, nwords, window, strip, cw);
    if (k < 0) return -1;
    PyObject *cue = Py_None;
    int np = 0, near = 0, cl = 0, err = 0;
    if (k > 0) {
        PyObject *c = PyDict_GetItemWithError(cue_forms, cw[0]);
        if (c) cue = c;
        else if (PyErr_Occurred()) err = 1;
        if (!err && (np = PySet_Contains(not_place, cw[0])) < 0) err = 1;
        for (Py_ssize_t i = 0; !err && !near && i < k; i++)
            if ((near = PySet_Contains(near_forms, cw[i])) < 0) err = 1;
        if (!err && !near && (near = PySet_Contains(direction_forms, cw[0])) < 0) err = 1;
    }
    for (Py_ssize_t i = 0; i < k; i++) Py_DECREF(cw[i]);
    if (err) return -1;
    if (h->plen == 1) {
        PyObject *pre = PyTuple_GET_ITEM(t, 4), *key = PyTuple_GET_ITEM(t, 2);
        PyObject *word = PyUnicode_Concat(pre, key);
        if (!word) return -1;
        cl = PySet_Contains(clitic_words, word);
        Py_DECREF(word);
        if (cl < 0) return -1;
    }
    Py_INCREF(cue);
    PyTuple_SET_ITEM(t, 6, cue);
    PyTuple_SET_ITEM(t, 7, PyBool_FromLong(np));
    PyTuple_SET_ITEM(t, 8, PyBool_FromLong(near));
    PyTuple_SET_ITEM(t, 9, PyBool_FromLong(cl));
    return 0;
}

/* longest_words(text, prefixes, skip) -> [(start, end, key, entries, prefix, with_article)], by start.
 * The whole of rasd.extract.places._raw_hits (its pure-Python twin; see there for the rules) in one call:
 * values must be (key_len, key, plain_entries, article_entries) tuples and ``prefixes`` a dict proclitic ->
 * "ends in the article" (PROCLITICS). Characters equal to ``skip`` (a 1-char str: the quote mark, or None)
 * are left out while matching and the spans mapped back to text offsets. A hit is a whole word of that
 * view (iter_words' test) whose selected entries (article entries after a proclitic ending in "ال", plain
 * ones otherwise) are not empty; among overlapping hits the longest (proclitic included) wins, then the
 * leftmost, then the first in automaton order. With ``context`` = (cue_forms, not_place_words, near_forms,
 * direction_forms, clitic_words, n_words, window, strip) each tuple also carries (cue, not_place, near,
 * clitic_word) from the words before it (place_context). */
static PyObject *Automaton_longest_words(Automaton *self, PyObject *args) {
    PyObject *text, *prefixes, *skip, *context = Py_None;
    PyObject *cue_forms = NULL, *not_place = NULL, *near_forms = NULL, *direction_forms = NULL, *clitic_words = NULL;
    PyObject *strip = NULL, *cw[8];
    Py_ssize_t nwords = 0, window = 0;
    if (!PyArg_ParseTuple(args, "UO!O|O:longest_words", &text, &PyDict_Type, &prefixes, &skip, &context))
        return NULL;
    if (context != Py_None && !PyArg_ParseTuple(context, "O!O!O!O!O!nnU:longest_words context", &PyDict_Type,
                                                &cue_forms, &PySet_Type, &not_place, &PySet_Type, &near_forms,
                                                &PySet_Type, &direction_forms, &PySet_Type, &clitic_words,
                                                &nwords, &window, &strip))
        return NULL;
    if (nwords < 0 || nwords > 8) {
        PyErr_SetString(PyExc_ValueError, "longest_words: 0..8 context words");
        return NULL;
    }
    if (!self->built) {
        PyErr_SetString(PyExc_AttributeError, "not an Aho-Corasick automaton yet: call make_automaton()");
        return NULL;
    }
    Py_UCS4 skipc = (Py_UCS4)-1;
    if (skip != Py_None) {
        if (!PyUnicode_Check(skip) || PyUnicode_GET_LENGTH(skip) != 1) {
            PyErr_SetString(PyExc_TypeError, "skip must be a 1-character str or None");
            return NULL;
        }
        skipc = PyUnicode_READ_CHAR(skip, 0);
    }
    const int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    const Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    PyObject *out = NULL;
    Py_UCS4 *view = PyMem_Malloc(sizeof(Py_UCS4) * (size_t)(n + 1));
    Py_ssize_t *map = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(n + 1));
    char *taken = PyMem_Calloc((size_t)n + 1, 1);
    Py_ssize_t cap = 64, nh = 0;
    PlaceHit *hits = PyMem_Malloc(sizeof(PlaceHit) * (size_t)cap);
    if (!view || !map || !taken || !hits) { PyErr_NoMemory(); goto done; }
    Py_ssize_t vn = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c == skipc) continue;
        view[vn] = c;
        map[vn++] = i;
    }
    Node *nodes = self->nodes;
    const int32_t *root_next = self->root_next;
    int32_t state = 0;
    int bare_article = -1;  /* prefixes[""] once looked up */
    for (Py_ssize_t pos = 0; pos < vn;) {
        Py_UCS4 c = view[pos++];
        for (;;) {
            if (state == 0) {
                if (c < ROOT_TABLE) state = root_next[c];
                else { int32_t t = child_of(&nodes[0], c); state = t < 0 ? 0 : t; }
                break;
            }
            int32_t t = child_of(&nodes[state], c);
            if (t >= 0) { state = t; break; }
            state = nodes[state].fail;
        }
        for (int32_t o = nodes[state].value ? state : nodes[state].out; o >= 0; o = nodes[o].out) {
            /* whole word of the view: no letter after, a word start or proclitics before */
            Py_ssize_t end = pos, start = pos - nodes[o].depth, ws = start;
            if (end < vn && Py_UNICODE_ISALPHA(view[end])) continue;
            if (start > 0 && Py_UNICODE_ISALPHA(view[start - 1])) {
                ws = start - 1;
                while (ws > 0 && Py_UNICODE_ISALPHA(view[ws - 1]) && start - ws <= 4) ws--;
                if (ws > 0 && Py_UNICODE_ISALPHA(view[ws - 1])) continue;
            }
            int with_article;
            if (ws == start && bare_article >= 0) {
                with_article = bare_article;  /* no proclitic: the common case, looked up once */
            } else {
                PyObject *p = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, view + ws, start - ws);
                if (!p) goto done;
                PyObject *art = PyDict_GetItemWithError(prefixes, p);
                Py_DECREF(p);
                if (!art) { if (PyErr_Occurred()) goto done; continue; }
                with_article = PyObject_IsTrue(art);
                if (with_article < 0) goto done;
                if (ws == start) bare_article = with_article;
            }
            PyObject *v = nodes[o].value;
            if (!PyTuple_Check(v) || PyTuple_GET_SIZE(v) != 4) {
                PyErr_SetString(PyExc_TypeError, "longest_words: values must be (len, key, plain, article)");
                goto done;
            }
            PyObject *ok = PyTuple_GET_ITEM(v, with_article ? 3 : 2);
            int truth = PyObject_IsTrue(ok);
            if (truth < 0) goto done;
            if (!truth) continue;
            if (nh == cap) {
                cap *= 2;
                PlaceHit *h = PyMem_Realloc(hits, sizeof(PlaceHit) * (size_t)cap);
                if (!h) { PyErr_NoMemory(); goto done; }
                hits = h;
            }
            PlaceHit *h = &hits[nh];
            h->s = map[start];
            h->e = map[end - 1] + 1;
            h->plen = start - ws;
            /* و"الشدادي": a proclitic that stands before the quote, not glued to the name, is dropped */
            for (Py_ssize_t k = 0; k < h->plen; k++)
                if (PyUnicode_READ(kind, data, h->s - h->plen + k) != view[ws + k]) { h->plen = 0; break; }
            h->vws = ws;
            h->order = nh;
            h->node = o;
            h->with_article = with_article;
            h->ok = ok;
            nh++;
        }
    }
    qsort(hits, (size_t)nh, sizeof(PlaceHit), cmp_longest);
    Py_ssize_t nk = 0;
    for (Py_ssize_t i = 0; i < nh; i++) {
        PlaceHit *h = &hits[i];
        Py_ssize_t a = h->s - h->plen, k;
        for (k = a; k < h->e && !taken[k]; k++) ;
        if (k < h->e) continue;
        memset(taken + a, 1, (size_t)(h->e - a));
        hits[nk++] = *h;
    }
    qsort(hits, (size_t)nk, sizeof(PlaceHit), cmp_start);
    out = PyList_New(nk);
    if (!out) goto done;
    for (Py_ssize_t i = 0; i < nk; i++) {
        PlaceHit *h = &hits[i];
        PyObject *key = PyTuple_GET_ITEM(nodes[h->node].value, 1);
        PyObject *pre = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, view + h->vws, h->plen);
        PyObject *t = PyTuple_New(context == Py_None ? 6 : 10);
        PyObject *s = PyLong_FromSsize_t(h->s), *e = PyLong_FromSsize_t(h->e);
        if (!pre || !t || !s || !e) {
            Py_XDECREF(pre); Py_XDECREF(t); Py_XDECREF(s); Py_XDECREF(e); Py_CLEAR(out);
            goto done;
        }
        PyObject *wa = h->with_article ? Py_True : Py_False;
        Py_INCREF(key); Py_INCREF(h->ok); Py_INCREF(wa);
        PyTuple_SET_ITEM(t, 0, s);
        PyTuple_SET_ITEM(t, 1, e);
        PyTuple_SET_ITEM(t, 2, key);
        PyTuple_SET_ITEM(t, 3, h->ok);
        PyTuple_SET_ITEM(t, 4, pre);
        PyTuple_SET_ITEM(t, 5, wa);
        PyList_SET_ITEM(out, i, t);
        if (context != Py_None && place_context(t, text, h, nodes, cue_forms, not_place, near_forms, direction_forms,
                                                clitic_words, nwords, window, strip, cw) < 0) {
            Py_CLEAR(out);
            goto done;
        }
    }
done:
    PyMem_Free(view);
    PyMem_Free(map);
    PyMem_Free(taken);
    PyMem_Free(hits);
    return out;
}

static PyMethodDef Automaton_methods[] = {
    {"add_word", (PyCFunction)Automaton_add_word, METH_VARARGS, "add_word(key, value): add or replace a key"},
    {"make_automaton", (PyCFunction)Automaton_make, METH_NOARGS, "build the fail links"},
    {"iter", (PyCFunction)Automaton_iter, METH_VARARGS, "iter(text[, start[, end]]) -> (end_index, value)"},
    {"iter_words", (PyCFunction)(void (*)(void))Automaton_iter_words, METH_VARARGS | METH_KEYWORDS,
     "iter_words(text, prefixes=None, word_end=True) -> (start, end, prefix, value) of whole-word hits"},
    {"longest_words", (PyCFunction)Automaton_longest_words, METH_VARARGS,
     "longest_words(text, prefixes, skip[, context]) -> [(start, end, key, entries, prefix, with_article[, cue, not_place, near, clitic_word])]"},
    {NULL, NULL, 0, NULL},
};

static Py_ssize_t Automaton_length(Automaton *self) { return self->nwords; }

static PySequenceMethods Automaton_seq = {
    .sq_length = (lenfunc)Automaton_length,
};

static PyTypeObject AutomatonType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "rasd._acscan.Automaton",
    .tp_basicsize = sizeof(Automaton),
    .tp_dealloc = (destructor)Automaton_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Aho-Corasick automaton (the subset of ahocorasick.Automaton rasd uses)",
    .tp_methods = Automaton_methods,
    .tp_as_sequence = &Automaton_seq,
    .tp_init = (initproc)Automaton_init,
    .tp_new = PyType_GenericNew,
};

static PyTypeObject IterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "rasd._acscan.Iter",
    .tp_basicsize = sizeof(Iter),
    .tp_dealloc = (destructor)Iter_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)Iter_next,
};

/* prev_words(text, pos, n, window, strip) -> up to n words before pos, nearest first: the whitespace-separated
 * pieces of text[max(0, pos - window):pos] from the right, each stripped of the characters of ``strip`` at
 * both ends, empty ones skipped (rasd.extract.places._prev_words is the pure-Python twin). */
static PyObject *mod_prev_words(PyObject *mod, PyObject *args) {
    PyObject *text, *strip;
    Py_ssize_t pos, n, window;
    if (!PyArg_ParseTuple(args, "UnnnU:prev_words", &text, &pos, &n, &window, &strip)) return NULL;
    if (n < 0) n = 0;
    PyObject **words = PyMem_Malloc(sizeof(PyObject *) * (size_t)(n + 1));
    if (!words) return PyErr_NoMemory();
    Py_ssize_t count = words_before(text, pos, n, window, strip, words);
    PyObject *out = count < 0 ? NULL : PyList_New(count);
    for (Py_ssize_t i = 0; i < (count < 0 ? 0 : count); i++) {
        if (out) PyList_SET_ITEM(out, i, words[i]);
        else Py_DECREF(words[i]);
    }
    PyMem_Free(words);
    return out;
}

static PyMethodDef module_methods[] = {
    {"prev_words", (PyCFunction)mod_prev_words, METH_VARARGS,
     "prev_words(text, pos, n, window, strip) -> up to n stripped words before pos, nearest first"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT, "rasd._acscan", "Aho-Corasick automaton for rasd's scanners.", -1, module_methods,
};

PyMODINIT_FUNC PyInit__acscan(void) {
    if (PyType_Ready(&AutomatonType) < 0 || PyType_Ready(&IterType) < 0) return NULL;
    PyObject *m = PyModule_Create(&moddef);
    if (!m) return NULL;
    Py_INCREF(&AutomatonType);
    if (PyModule_AddObject(m, "Automaton", (PyObject *)&AutomatonType) < 0) {
        Py_DECREF(&AutomatonType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
