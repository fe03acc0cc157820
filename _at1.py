import time

from streamlit.testing.v1 import AppTest

at = AppTest.from_file("app.py", default_timeout=60).run()
print("home exc", at.exception)
for page in ["convolution","multichannel","pooling","feature_maps","translation","training","architecture"]:
    t=time.time()
    at.switch_page(f"pages/{page}.py").run()
    print(page, "exc", [e.value for e in at.exception][:1], "err", [e.value for e in at.error][:2], round(time.time()-t,2))
