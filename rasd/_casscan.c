/* rasd._casscan: the number/casualty tokenizer in C (optional compiled module).
 *
 * tokenize(folded, start, end) -> [(start, end, form), ...]: exactly the tokens of
 * rasd.extract.numbers.TOKEN_RE.finditer(folded, start, end), i.e. of
 *     [\u0621-\u064A\u0671-\u06D3]+ | [0-9]+(?:[.,:/\-][0-9]+)* | [a-z]+ | \n | [^\s\u0621-\u064A0-9a-z]
 * (first alternative that matches, leftmost; other whitespace is skipped). ``end`` works like the
 * endpos of re: the text is cut there, so a token never reaches past it. \s is Py_UNICODE_ISSPACE, the
 * test re uses for str patterns. Why: casualties tokenises every region around a trigger word (~85
 * tokens per article); the regex path builds a Match object per token and three method calls.
 * rasd.extract.numbers falls back to the regex when this module is not built; tests/test_casscan.py
 * checks both give equal lists.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define IS_AR(c) (((c) >= 0x0621 && (c) <= 0x064A) || ((c) >= 0x0671 && (c) <= 0x06D3))
#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define IS_LATIN(c) ((c) >= 'a' && (c) <= 'z')
#define IS_SEP(c) ((c) == '.' || (c) == ',' || (c) == ':' || (c) == '/' || (c) == '-')

static PyObject *
append_token(PyObject *out, PyObject *text, Py_ssize_t s, Py_ssize_t e)
{
    PyObject *form = PyUnicode_Substring(text, s, e);
    if (form == NULL)
        return NULL;
    PyObject *a = PyLong_FromSsize_t(s);
    PyObject *b = PyLong_FromSsize_t(e);
    if (a == NULL || b == NULL) {
        Py_XDECREF(a);
        Py_XDECREF(b);
        Py_DECREF(form);
        return NULL;
    }
    PyObject *t = PyTuple_New(3);
    if (t == NULL) {
        Py_DECREF(a);
        Py_DECREF(b);
        Py_DECREF(form);
        return NULL;
    }
    PyTuple_SET_ITEM(t, 0, a);
    PyTuple_SET_ITEM(t, 1, b);
    PyTuple_SET_ITEM(t, 2, form);
    int rc = PyList_Append(out, t);
    Py_DECREF(t);
    return rc < 0 ? NULL : out;
}

static PyObject *
tokenize(PyObject *self, PyObject *args)
{
    PyObject *text;
    Py_ssize_t start = 0;
    PyObject *end_obj = Py_None;
    if (!PyArg_ParseTuple(args, "U|nO:tokenize", &text, &start, &end_obj))
        return NULL;
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    Py_ssize_t end = len;
    if (end_obj != Py_None) {
        end = PyNumber_AsSsize_t(end_obj, PyExc_OverflowError);
        if (end == -1 && PyErr_Occurred())
            return NULL;
    }
    /* re's pos/endpos: negative -> 0, past the end -> the end */
    if (start < 0)
        start = 0;
    if (start > len)
        start = len;
    if (end < 0)
        end = 0;
    if (end > len)
        end = len;
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t i = start;
    while (i < end) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        Py_ssize_t j = i + 1;
        if (IS_AR(c)) {
            while (j < end) {
                Py_UCS4 d = PyUnicode_READ(kind, data, j);
                if (!IS_AR(d))
                    break;
                j++;
            }
        }
        else if (IS_DIGIT(c)) {
            while (j < end && IS_DIGIT(PyUnicode_READ(kind, data, j)))
                j++;
            /* (?:[.,:/\-][0-9]+)*: a separator joins only when a digit follows it */
            while (j + 1 < end && IS_SEP(PyUnicode_READ(kind, data, j)) && IS_DIGIT(PyUnicode_READ(kind, data, j + 1))) {
                j += 2;
                while (j < end && IS_DIGIT(PyUnicode_READ(kind, data, j)))
                    j++;
            }
        }
        else if (IS_LATIN(c)) {
            while (j < end && IS_LATIN(PyUnicode_READ(kind, data, j)))
                j++;
        }
        else if (c != '\n' && Py_UNICODE_ISSPACE(c)) {
            i = j;
            continue;
        }
        if (append_token(out, text, i, j) == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        i = j;
    }
    return out;
}

static PyMethodDef methods[] = {
    {"tokenize", tokenize, METH_VARARGS,
     "tokenize(folded, start=0, end=None) -> [(start, end, form)]: the tokens of numbers.TOKEN_RE."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "rasd._casscan",
    "Compiled tokenizer for rasd.extract.numbers / casualties (optional; same results as the regex).",
    -1, methods,
};

PyMODINIT_FUNC
PyInit__casscan(void)
{
    return PyModule_Create(&module);
}
