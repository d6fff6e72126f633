import streamlit as st
st.title('estimators')
st.info('This page is being built.')
