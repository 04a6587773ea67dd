"""Build hook for the optional compiled scanners (rasd._acscan, rasd._casscan); the project's metadata lives in pyproject.toml.

``optional=True``: without a C compiler the install still succeeds and rasd uses pyahocorasick
(rasd.extract.common.new_automaton), with the same results.
"""
from setuptools import Extension, setup

setup(ext_modules=[
    Extension("rasd._acscan", ["rasd/_acscan.c"], optional=True),
    Extension("rasd._casscan", ["rasd/_casscan.c"], optional=True),
])
