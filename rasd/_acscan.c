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

static PyMethodDef Automaton_methods[] = {
    {"add_word", (PyCFunction)Automaton_add_word, METH_VARARGS, "add_word(key, value): add or replace a key"},
    {"make_automaton", (PyCFunction)Automaton_make, METH_NOARGS, "build the fail links"},
    {"iter", (PyCFunction)Automaton_iter, METH_VARARGS, "iter(text[, start[, end]]) -> (end_index, value)"},
    {"iter_words", (PyCFunction)(void (*)(void))Automaton_iter_words, METH_VARARGS | METH_KEYWORDS,
     "iter_words(text, prefixes=None, word_end=True) -> (start, end, prefix, value) of whole-word hits"},
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

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT, "rasd._acscan", "Aho-Corasick automaton for rasd's scanners.", -1, NULL,
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
