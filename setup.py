from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="django-canvas-oauth",
    version="2.0.0.dev0",
    description="Canvas LMS OAuth2 for Django: the authorization dance and fresh API tokens.",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    packages=find_packages(include=["canvas_oauth", "canvas_oauth.*"]),
    include_package_data=True,
    package_data={
        "canvas_oauth": [
            "templates/*.html",
            "templates/canvas_oauth/*.html",
            "static/canvas_oauth/*.js",
            "py.typed",
        ]
    },
    python_requires=">=3.10",
    install_requires=["Django>=5.2,<6.2", "requests>=2.31", "cryptography>=42"],
    extras_require={
        "testing": ["responses>=0.25", "pytest>=8"],
        "canvasapi": ["canvasapi>=3.6"],
    },
    classifiers=[
        "Framework :: Django",
        "Framework :: Django :: 5.2",
        "Framework :: Django :: 6.0",
        "Framework :: Django :: 6.1",
        "License :: OSI Approved :: MIT License",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
    ],
    zip_safe=False,
)
