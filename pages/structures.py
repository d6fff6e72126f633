import streamlit as st
st.title('structures')
st.info('This page is being built.')
