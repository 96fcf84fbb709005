from setuptools import find_packages, setup

setup(
    name="airflow-mesos",
    version="0.1.0",
    description="Apache Airflow 3.3 on Apache Mesos: a MesosExecutor, an embedded Mesos cluster and a Marathon app group",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["airflow_mesos", "airflow_mesos.*"]),
    package_data={"airflow_mesos.marathon": ["schema/*.json"], "airflow_mesos.ui": ["page.html"]},
    install_requires=[
        "apache-airflow==3.3.*",
        "httpx>=0.27",
        "docker>=7.0",
        "kazoo>=2.9",
        "psycopg2-binary>=2.9",
        # Airflow 3.3 on Postgres opens an async engine too and picks asyncpg for it.
        "asyncpg>=0.29",
        "pydantic>=2.6",
        "jsonschema>=4.20",
        "referencing>=0.30",
        # S3 remote task logging (S3RemoteLogIO) and boto3 for the example DAGs.
        "apache-airflow-providers-amazon>=9.6",
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-timeout>=2.3",
            "ruff>=0.6",
            # The browser test of the Mesos UI page drives Debian's chromium (never a downloaded browser).
            "playwright>=1.40",
            # The S3-compatible server the log and example-DAG tests run against (python -m moto.server).
            "moto[server]>=5.0",
        ],
    },
    entry_points={
        "console_scripts": ["airflow-mesos=airflow_mesos.cli:main"],
        # Airflow finds the [mesos] config section and the executor through this.
        "apache_airflow_provider": ["provider_info=airflow_mesos.provider:get_provider_info"],
    },
    classifiers=[
        "Programming Language :: Python :: 3.11",
        "Framework :: Apache Airflow",
        "License :: OSI Approved :: Apache Software License",
    ],
)
